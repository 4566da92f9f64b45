//! ONNX Runtime runs SFace's fully connected layer on its own int8 weights.
//!
//! That one `Gemm` holds two thirds of SFace's weights, 128 × 50176, int8
//! in 64-wide blocks along the input dimension. Folded to fp32 it is 25.7 MB,
//! and ONNX Runtime holds such weights twice while it loads a session, which
//! made it the largest part of a `compare`'s peak memory. ONNX Runtime's
//! `MatMulNBits` kernel takes exactly this layout (8-bit, blocked along K, a
//! scale and zero point per block), so the weights stay int8 and are
//! multiplied with int8 dot products, the layer's input quantised per block
//! (`accuracy_level` 4). Measured on SFace: −21 MiB on a `compare`'s peak,
//! a face embedded no slower, and embeddings at cosine ≥ 0.99999 to the fp32
//! layer's (BENCHMARKS.md, Memory).

use std::collections::HashMap;

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};

use super::fold::{int_attribute, prune_unread};

/// ONNX Runtime's contributed operators, where `MatMulNBits` lives.
const MICROSOFT_DOMAIN: &str = "com.microsoft";
/// `MatMulNBits` quantises its input to int8 per block and uses int8 dot
/// products (levels 0–3 dequantise the whole weight on every run).
const INT8_COMPUTE: i64 = 4;

/// Replaces every `Gemm` that reads a constant, block-quantised int8 weight
/// with `MatMulNBits` on the same int8 blocks; returns how many it replaced.
/// Any other `Gemm` is left as it is, for ONNX Runtime to fold.
pub fn use_matmul_nbits(model: &mut ModelProto) -> usize {
    let Some(graph) = model.graph.as_mut() else { return 0 };
    let replaced = replace_quantized_gemms(graph);
    if replaced > 0 {
        prune_unread(graph);
        if !model.opset_import.iter().any(|opset| opset.domain == MICROSOFT_DOMAIN) {
            model.opset_import.push(OperatorSetIdProto { domain: MICROSOFT_DOMAIN.into(), version: 1 });
        }
    }
    replaced
}

/// A `Gemm`'s weight as `MatMulNBits` wants it.
struct BlockedWeight {
    /// The `DequantizeLinear` node that produced the fp32 weight.
    dequantize: usize,
    rows: usize,
    columns: usize,
    block_size: usize,
    /// Offset by 128: `MatMulNBits` takes unsigned values and zero points.
    data: TensorProto,
    scales: TensorProto,
    zero_points: Option<TensorProto>,
}

fn replace_quantized_gemms(graph: &mut GraphProto) -> usize {
    let initializers: HashMap<&str, &TensorProto> =
        graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let producers: HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, node)| node.output.iter().map(move |name| (name.as_str(), i)))
        .collect();
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for name in graph.node.iter().flat_map(|node| &node.input) {
        *readers.entry(name.as_str()).or_default() += 1;
    }
    let mut replacements = Vec::new();
    for (index, gemm) in graph.node.iter().enumerate() {
        let Some(weight) = blocked_weight(gemm, &graph.node, &initializers, &producers, &readers) else {
            continue;
        };
        if !bias_fits(gemm, weight.rows, &graph.node, &initializers, &producers) {
            continue;
        }
        replacements.push((index, weight));
    }
    let replaced = replacements.len();
    let mut dead = Vec::new();
    for (index, weight) in replacements {
        graph.node[index] = matmul_nbits(&graph.node[index], &weight);
        dead.push(weight.dequantize);
        graph.initializer.push(weight.data);
        graph.initializer.push(weight.scales);
        graph.initializer.extend(weight.zero_points);
    }
    graph.node = std::mem::take(&mut graph.node)
        .into_iter()
        .enumerate()
        .filter_map(|(index, node)| (!dead.contains(&index)).then_some(node))
        .collect();
    replaced
}

/// The weight of a plain `Y = A·Bᵀ (+ C)` whose `B` comes, and only goes,
/// from a `DequantizeLinear` of int8 initializers blocked along `B`'s rows.
fn blocked_weight(
    gemm: &NodeProto,
    nodes: &[NodeProto],
    initializers: &HashMap<&str, &TensorProto>,
    producers: &HashMap<&str, usize>,
    readers: &HashMap<&str, usize>,
) -> Option<BlockedWeight> {
    let plain = gemm.op_type == "Gemm"
        && int_attribute(gemm, "transA").unwrap_or(0) == 0
        && int_attribute(gemm, "transB") == Some(1)
        && float_attribute(gemm, "alpha").unwrap_or(1.0) == 1.0
        && float_attribute(gemm, "beta").unwrap_or(1.0) == 1.0;
    let weight_name = gemm.input.get(1)?.as_str();
    if !plain || readers.get(weight_name) != Some(&1) {
        return None;
    }
    let dequantize = *producers.get(weight_name)?;
    let node = &nodes[dequantize];
    let constant = |i: usize| {
        node.input.get(i).filter(|name| !name.is_empty()).and_then(|n| initializers.get(n.as_str()))
    };
    let (quantized, scales) = (constant(0)?, constant(1)?);
    let zero_points = constant(2);
    let &[rows, columns] = quantized.dims.as_slice() else { return None };
    let (rows, columns) = (usize::try_from(rows).ok()?, usize::try_from(columns).ok()?);
    let block_size = usize::try_from(int_attribute(node, "block_size")?).ok()?;
    let blocks = columns.checked_div(block_size)?;
    let along_columns = matches!(int_attribute(node, "axis"), Some(1 | -1));
    let blocked_shape = [rows as i64, blocks as i64];
    let usable = node.op_type == "DequantizeLinear"
        && along_columns
        && block_size.is_power_of_two()
        && block_size >= 16
        && columns % block_size == 0
        && is_raw(quantized, DataType::Int8, rows * columns)
        && is_raw(scales, DataType::Float, rows * blocks * 4)
        && scales.dims == blocked_shape
        && zero_points.is_none_or(|z| is_raw(z, DataType::Int8, rows * blocks) && z.dims == blocked_shape);
    if !usable {
        return None;
    }
    let offset = |tensor: &TensorProto, suffix: &str, dims: Vec<i64>| TensorProto {
        name: format!("{}_{suffix}", tensor.name),
        dims,
        data_type: DataType::Uint8 as i32,
        raw_data: tensor.raw_data.iter().map(|b| b ^ 0x80).collect(),
        ..Default::default()
    };
    let flat = (rows * blocks) as i64;
    Some(BlockedWeight {
        dequantize,
        rows,
        columns,
        block_size,
        data: offset(quantized, "nbits", vec![rows as i64, blocks as i64, block_size as i64]),
        scales: TensorProto { name: format!("{}_nbits", scales.name), dims: vec![flat], ..(*scales).clone() },
        zero_points: zero_points.map(|z| offset(z, "nbits", vec![flat])),
    })
}

/// `MatMulNBits` adds a bias of exactly one value per output; a `Gemm`'s `C`
/// may broadcast any other way, and is then left alone.
fn bias_fits(
    gemm: &NodeProto,
    rows: usize,
    nodes: &[NodeProto],
    initializers: &HashMap<&str, &TensorProto>,
    producers: &HashMap<&str, usize>,
) -> bool {
    let Some(bias) = gemm.input.get(2).filter(|name| !name.is_empty()) else { return true };
    let dequantized_from = || {
        let producer = &nodes[*producers.get(bias.as_str())?];
        let source = producer.input.first().filter(|_| producer.op_type == "DequantizeLinear")?;
        initializers.get(source.as_str()).copied()
    };
    let constant = initializers.get(bias.as_str()).copied().or_else(dequantized_from);
    constant.is_some_and(|tensor| tensor.dims == [rows as i64])
}

fn matmul_nbits(gemm: &NodeProto, weight: &BlockedWeight) -> NodeProto {
    let attribute = |name: &str, value: usize| AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value as i64,
        ..Default::default()
    };
    let zero_points = weight.zero_points.as_ref().map_or(String::new(), |z| z.name.clone());
    let bias = gemm.input.get(2).cloned().unwrap_or_default();
    // Inputs: A, B, scales, zero points, g_idx (unused), bias.
    let mut input = vec![
        gemm.input[0].clone(),
        weight.data.name.clone(),
        weight.scales.name.clone(),
        zero_points,
        String::new(),
        bias,
    ];
    while input.last().is_some_and(String::is_empty) {
        input.pop();
    }
    NodeProto {
        name: format!("{}_nbits", gemm.name),
        op_type: "MatMulNBits".into(),
        domain: MICROSOFT_DOMAIN.into(),
        input,
        output: gemm.output.clone(),
        attribute: vec![
            attribute("K", weight.columns),
            attribute("N", weight.rows),
            attribute("bits", 8),
            attribute("block_size", weight.block_size),
            AttributeProto { i: INT8_COMPUTE, ..attribute("accuracy_level", 0) },
        ],
        ..Default::default()
    }
}

fn is_raw(tensor: &TensorProto, data_type: DataType, bytes: usize) -> bool {
    tensor.data_type == data_type as i32 && tensor.raw_data.len() == bytes
}

fn float_attribute(node: &NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ModelSource;
    use crate::runtime::{Weights, prepare};

    fn sface() -> ModelProto {
        let model = ModelSource::Bundled.embedder().unwrap();
        prepare(&model.bytes, &crate::embed::SFace::network_spec(), Weights::Keep).unwrap()
    }

    #[test]
    fn sface_fully_connected_layer_becomes_matmul_nbits() {
        let mut model = sface();
        assert_eq!(use_matmul_nbits(&mut model), 1);
        let graph = model.graph.as_ref().unwrap();
        assert!(graph.node.iter().all(|node| node.op_type != "Gemm"));
        let node = graph.node.iter().find(|node| node.op_type == "MatMulNBits").unwrap();
        let attribute = |name: &str| int_attribute(node, name).unwrap();
        assert_eq!((attribute("N"), attribute("K"), attribute("block_size")), (128, 50176, 64));
        let data = graph.initializer.iter().find(|t| t.name == node.input[1]).unwrap();
        assert_eq!(data.dims, [128, 784, 64]);
        // The fp32 weight's DequantizeLinear and its int8 inputs are gone.
        assert!(!graph.node.iter().any(|n| n.output.iter().any(|o| o == "pre_fc1_weight_dequantized")));
        assert!(!graph.initializer.iter().any(|t| t.name == "pre_fc1_weight_quantized"));
        assert!(model.opset_import.iter().any(|opset| opset.domain == MICROSOFT_DOMAIN));
    }

    #[test]
    fn values_and_zero_points_move_to_unsigned_without_changing_the_weight() {
        let mut model = sface();
        let before = model.graph.as_ref().unwrap().clone();
        use_matmul_nbits(&mut model);
        let after = model.graph.as_ref().unwrap();
        let find = |graph: &GraphProto, name: &str| {
            graph.initializer.iter().find(|t| t.name == name).cloned().unwrap()
        };
        let (q, z) = (find(&before, "pre_fc1_weight_quantized"), find(&before, "pre_fc1_weight_zero_point"));
        let (q8, z8) =
            (find(after, "pre_fc1_weight_quantized_nbits"), find(after, "pre_fc1_weight_zero_point_nbits"));
        // (q - z) is what the weight is made of; it must survive the offset.
        for (row, blocks) in [(0, [0, 1, 783]), (127, [5, 400, 783])] {
            for block in blocks {
                let p = row * 784 + block;
                for k in [block * 64, block * 64 + 63] {
                    let i = row * 50176 + k;
                    let signed = i32::from(q.raw_data[i] as i8) - i32::from(z.raw_data[p] as i8);
                    let unsigned = i32::from(q8.raw_data[i]) - i32::from(z8.raw_data[p]);
                    assert_eq!(signed, unsigned, "row {row} column {k}");
                }
            }
        }
    }

    #[test]
    fn a_gemm_without_quantized_weights_is_left_alone() {
        let mut model = sface();
        let graph = model.graph.as_mut().unwrap();
        let gemm = graph.node.iter_mut().find(|node| node.op_type == "Gemm").unwrap();
        gemm.attribute.retain(|a| a.name != "transB");
        assert_eq!(use_matmul_nbits(&mut model), 0);
        assert!(model.opset_import.iter().all(|opset| opset.domain != MICROSOFT_DOMAIN));
    }
}
