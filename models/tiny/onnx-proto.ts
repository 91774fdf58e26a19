/** onnx-proto is CommonJS: Node's ESM loader sees only its default export, so unwrap the namespace here once. */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
