/**
 * Types for the part of dcmjs's `sr` namespace (its port of highdicom's SR classes, dcmjs 0.51) that the sr stage
 * uses. An ambient declaration of the same module as server/src/types/dcmjs.d.ts: TypeScript merges the two, so the
 * `data` declarations there stay as they are. Only what we call is declared, with the options dcmjs really reads.
 */
declare module 'dcmjs' {
  export namespace sr {
    namespace coding {
      interface CodedConceptOptions {
        value: string;
        meaning: string;
        schemeDesignator: string;
        schemeVersion?: string;
      }
      /** A code sequence item: own properties CodeValue, CodeMeaning, CodingSchemeDesignator (PS3.3 Table 8.8-1). */
      class CodedConcept {
        constructor(options: CodedConceptOptions);
        readonly CodeValue: string;
        readonly CodeMeaning: string;
        readonly CodingSchemeDesignator: string;
      }
    }

    namespace valueTypes {
      type RelationshipType =
        | 'CONTAINS'
        | 'HAS ACQ CONTEXT'
        | 'HAS CONCEPT MOD'
        | 'HAS OBS CONTEXT'
        | 'HAS PROPERTIES'
        | 'INFERRED FROM'
        | 'SELECTED FROM';
      const RelationshipTypes: {
        readonly CONTAINS: 'CONTAINS';
        readonly HAS_ACQ_CONTEXT: 'HAS ACQ CONTEXT';
        readonly HAS_CONCEPT_MOD: 'HAS CONCEPT MOD';
        readonly HAS_OBS_CONTEXT: 'HAS OBS CONTEXT';
        readonly HAS_PROPERTIES: 'HAS PROPERTIES';
        readonly INFERRED_FROM: 'INFERRED FROM';
        readonly SELECTED_FROM: 'SELECTED FROM';
      };
      type GraphicType = 'CIRCLE' | 'ELLIPSE' | 'ELLIPSOID' | 'MULTIPOINT' | 'POINT' | 'POLYLINE';
      const GraphicTypes: { readonly [K in GraphicType]: K };

      /** One SR content item in naturalized form (PS3.3 Table C.17-5, Content Item Macro). */
      class ContentItem {
        ConceptNameCodeSequence: coding.CodedConcept[];
        ValueType: string;
        RelationshipType?: RelationshipType;
        ContentSequence?: ContentItem[];
      }
      interface NamedItemOptions {
        name: coding.CodedConcept;
        relationshipType?: RelationshipType;
      }
      class CodeContentItem extends ContentItem {
        constructor(options: NamedItemOptions & { value: coding.CodedConcept });
        ConceptCodeSequence: coding.CodedConcept[];
      }
      class TextContentItem extends ContentItem {
        constructor(options: NamedItemOptions & { value: string });
        TextValue: string;
      }
      class UIDRefContentItem extends ContentItem {
        constructor(options: NamedItemOptions & { value: string });
        UID: string;
      }
      class NumContentItem extends ContentItem {
        constructor(options: NamedItemOptions & { value: number; unit: coding.CodedConcept });
      }
      class ContainerContentItem extends ContentItem {
        constructor(options: NamedItemOptions & { templateID?: string });
      }
      class ImageContentItem extends ContentItem {
        constructor(
          options: NamedItemOptions & {
            referencedSOPClassUID: string;
            referencedSOPInstanceUID: string;
            referencedFrameNumbers?: number[];
          },
        );
      }
      class ScoordContentItem extends ContentItem {
        constructor(options: NamedItemOptions & { graphicType: GraphicType; graphicData: number[] | number[][] });
      }
    }

    namespace contentItems {
      class FindingSite extends valueTypes.CodeContentItem {
        constructor(options: {
          anatomicLocation: coding.CodedConcept;
          laterality?: coding.CodedConcept;
          topographicalModifier?: coding.CodedConcept;
        });
      }
      class SourceImageForRegion extends valueTypes.ImageContentItem {
        constructor(options: {
          referencedSOPClassUID: string;
          referencedSOPInstanceUID: string;
          referencedFrameNumbers?: number[];
        });
      }
      class ImageRegion extends valueTypes.ScoordContentItem {
        constructor(options: {
          graphicType: valueTypes.GraphicType;
          graphicData: number[] | number[][];
          sourceImage: SourceImageForRegion;
        });
      }
    }

    namespace templates {
      /** A template is an array of content items (dcmjs's ContentSequence). */
      class Template extends Array<valueTypes.ContentItem> {}
      class TrackingIdentifier extends Template {
        constructor(options: { uid: string; identifier?: string });
      }
      class AlgorithmIdentification extends Template {
        constructor(options: { name: string; version: string; parameters?: string[] });
      }
      class LanguageOfContentItemAndDescendants extends Template {
        constructor(options: { language?: coding.CodedConcept });
      }
      class DeviceObserverIdentifyingAttributes extends Template {
        constructor(options: {
          uid: string;
          manufacturerName?: string;
          modelName?: string;
          serialNumber?: string;
          physicalLocation?: string;
        });
      }
      class ObserverContext extends Template {
        constructor(options: {
          observerType: coding.CodedConcept;
          observerIdentifyingAttributes: DeviceObserverIdentifyingAttributes;
        });
      }
      class MeasurementReport extends Template {
        constructor(options: {
          languageOfContentItemAndDescendants: LanguageOfContentItemAndDescendants;
          observationContext: Template;
          procedureReported: coding.CodedConcept | coding.CodedConcept[];
          imagingMeasurements?: valueTypes.ContentItem[];
        });
      }
    }

    namespace documents {
      /** Evidence: one naturalized data set (or its header attributes) per referenced instance. */
      interface EvidenceItem {
        StudyInstanceUID: string;
        SeriesInstanceUID: string;
        SOPClassUID: string;
        SOPInstanceUID: string;
        [keyword: string]: unknown;
      }
      /** The SR data set in naturalized form; its own enumerable properties are the attributes. */
      class Comprehensive3DSR {
        [keyword: string]: unknown;
        constructor(options: {
          content: valueTypes.ContentItem;
          evidence: EvidenceItem[];
          seriesInstanceUID: string;
          seriesNumber: number;
          seriesDescription: string;
          sopInstanceUID: string;
          instanceNumber: number;
          manufacturer: string;
          isComplete?: boolean;
          isVerified?: boolean;
          isFinal?: boolean;
          requestedProcedures?: unknown[];
        });
      }
    }
  }
}
