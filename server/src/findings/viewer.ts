/**
 * What the panel's image viewer reads from the API (docs/architecture.md §Viewer): each assessed level's axial stack
 * in order, and the sagittal image the stacks were located on. Part of the findings contract; imports nothing but it.
 */
import type { DiscLevel, PixelPoint } from './findings';

export interface StackSlice {
  sopInstanceUid: string;
  /** 1-based frame number (WADO-RS `/frames/{n}`). */
  frame: number;
  /** Position along the stack's normal, mm (inferior → superior ordering is the stack's own). */
  position: number;
}

/** The axial slices of one disc level, in acquisition-space order; the key slice is one of them. */
export interface LevelStack {
  level: DiscLevel;
  slices: StackSlice[];
}

/** Where an axial slice cuts the sagittal image: a line in the sagittal image's pixel coordinates. */
export interface SliceLine {
  sopInstanceUid: string;
  frame: number;
  line: [PixelPoint, PixelPoint];
}

export interface SagittalReference {
  seriesInstanceUid: string;
  sopInstanceUid: string;
  frame: number;
  /** One line per axial slice of every level's stack. */
  lines: SliceLine[];
}

/** `GET /api/stacks?imagingStudy=ImagingStudy/<id>`: the analyzed series' stacks, labelled by disc level. */
export interface StudyStacks {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  levels: LevelStack[];
  sagittal?: SagittalReference;
}

/**
 * `GET /api/frames?imagingStudy=…&series=…&instance=…&frame=…` answers `application/octet-stream`: the frame's
 * modality values (rescale applied) as little-endian Float32, row by row, with these headers.
 */
export const FRAME_HEADERS = {
  columns: 'X-Columns',
  rows: 'X-Rows',
  /** Default window from the image (DICOM Window Center/Width) or its value percentiles. */
  windowCenter: 'X-Window-Center',
  windowWidth: 'X-Window-Width',
  /** `row spacing,column spacing` in mm, when known. */
  pixelSpacing: 'X-Pixel-Spacing',
} as const;
