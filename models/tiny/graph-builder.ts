/**
 * A minimal ONNX graph builder over onnx-proto's generated protobuf classes: just enough to write small,
 * fixed-weight models in code (float32 / int64 initializers, nodes with int, float and ints attributes).
 */
import type { onnx as Onnx } from 'onnx-proto';
import { onnx } from './onnx-proto';

type AttributeValue = number | number[] | { float: number };

export interface ValueInfo {
  name: string;
  /** Dimensions; a string is a symbolic (dynamic) dimension such as 'batch'. */
  shape: (number | string)[];
}

export class GraphBuilder {
  private readonly nodes: Onnx.INodeProto[] = [];
  private readonly initializers: Onnx.ITensorProto[] = [];
  private counter = 0;

  /** A float32 initializer; returns its name. */
  floats(name: string, dims: number[], values: ArrayLike<number>): string {
    const data = Float32Array.from(values);
    if (data.length !== dims.reduce((a, b) => a * b, 1))
      throw new Error(`initializer ${name}: ${data.length} values for dims [${dims.join(',')}]`);
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(data.buffer),
    });
    return name;
  }

  /** A float32 scalar initializer (rank 0), for broadcasting arithmetic. */
  scalar(value: number): string {
    return this.floats(this.fresh('c'), [], [value]);
  }

  /** An int64 1-D initializer (axes, shapes, slice bounds). */
  ints(values: number[]): string {
    const name = this.fresh('i');
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({
      name,
      dims: [values.length],
      dataType: onnx.TensorProto.DataType.INT64,
      rawData: new Uint8Array(data.buffer),
    });
    return name;
  }

  /** Adds a node with one output and returns the output's name. */
  op(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    output = this.fresh(opType.toLowerCase()),
  ): string {
    this.nodes.push({
      opType,
      name: `${output}_node`,
      input: inputs,
      output: [output],
      attribute: Object.entries(attributes).map(([name, value]) => toAttribute(name, value)),
    });
    return output;
  }

  toModel(options: {
    inputs: ValueInfo[];
    outputs: ValueInfo[];
    graphName: string;
    docString: string;
    producerVersion: string;
  }): Uint8Array {
    const model = onnx.ModelProto.create({
      // IR version 8 with the default domain at opset 17: what onnxruntime ≥ 1.13 and torch.onnx.export agree on.
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'ldh-cds models/tiny',
      producerVersion: options.producerVersion,
      docString: options.docString,
      graph: {
        name: options.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: options.inputs.map(toValueInfo),
        output: options.outputs.map(toValueInfo),
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private fresh(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }
}

function toAttribute(name: string, value: AttributeValue): Onnx.IAttributeProto {
  const { AttributeType } = onnx.AttributeProto;
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  if (typeof value === 'number') return { name, type: AttributeType.INT, i: value };
  return { name, type: AttributeType.FLOAT, f: value.float };
}

function toValueInfo(info: ValueInfo): Onnx.IValueInfoProto {
  return {
    name: info.name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: info.shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}
