//! Load-time constant folding of quantised weights on the ONNX protobuf.
//!
//! SFace int8bq stores its weights as opset-21 *blocked* `DequantizeLinear`
//! nodes followed by constant `Reshape`s. tract does not implement blocked
//! dequantisation, so we fold every such node whose inputs are all
//! initializers into a plain fp32 initializer before tract sees the graph.
//! The folded network is numerically the one ONNX Runtime runs: weights are
//! `(q - zero_point) * scale` in f32, exactly as the operator defines them.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;

use tract_onnx::data_resolver::MmapDataResolver;
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto, tensor_proto::DataType};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::bail;
use tract_onnx::tract_hir::tract_ndarray::ArrayD;

/// What [`fold_constant_weights`] did, for logging and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FoldReport {
    pub dequantize_nodes: usize,
    pub reshape_nodes: usize,
}

/// Folds constant `DequantizeLinear` (and the constant `Reshape` after it)
/// into fp32 initializers, then drops graph inputs that nothing reads.
pub fn fold_constant_weights(graph: &mut GraphProto) -> TractResult<FoldReport> {
    let mut report = FoldReport::default();
    let mut initializers: HashMap<String, TensorProto> =
        graph.initializer.drain(..).map(|t| (t.name.clone(), t)).collect();

    let mut kept = Vec::with_capacity(graph.node.len());
    for node in graph.node.drain(..) {
        let all_constant = !node.input.is_empty()
            && node.input.iter().all(|name| name.is_empty() || initializers.contains_key(name));
        let folded = match node.op_type.as_str() {
            "DequantizeLinear" if all_constant => Some(fold_dequantize(&node, &initializers)?),
            "Reshape" if all_constant => Some(fold_reshape(&node, &initializers)?),
            _ => None,
        };
        match folded {
            Some(tensor) => {
                match node.op_type.as_str() {
                    "DequantizeLinear" => report.dequantize_nodes += 1,
                    _ => report.reshape_nodes += 1,
                }
                initializers.insert(tensor.name.clone(), tensor);
            }
            None => kept.push(node),
        }
    }
    graph.node = kept;

    let consumed: HashSet<&str> =
        graph.node.iter().flat_map(|n| n.input.iter().map(String::as_str)).collect();
    initializers.retain(|name, _| consumed.contains(name.as_str()));
    // The exported graph declares unused weights as inputs too; left in, tract
    // would expect them to be fed at run time.
    graph
        .input
        .retain(|input| consumed.contains(input.name.as_str()) && !initializers.contains_key(&input.name));
    let mut initializers: Vec<TensorProto> = initializers.into_values().collect();
    initializers.sort_by(|a, b| a.name.cmp(&b.name));
    graph.initializer = initializers;
    Ok(report)
}

fn fold_dequantize(
    node: &NodeProto,
    initializers: &HashMap<String, TensorProto>,
) -> TractResult<TensorProto> {
    let quantized = load_f32(&initializers[&node.input[0]])?;
    let scale = load_f32(&initializers[&node.input[1]])?;
    let zero_point = match node.input.get(2).filter(|name| !name.is_empty()) {
        Some(name) => load_f32(&initializers[name])?,
        None => ArrayD::zeros(scale.shape()),
    };
    if zero_point.shape() != scale.shape() {
        bail!("{}: zero point and scale shapes differ", node.name);
    }
    let rank = quantized.ndim() as i64;
    let axis = int_attribute(node, "axis").unwrap_or(1);
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) && scale.len() != 1 {
        bail!("{}: axis {axis} is out of range for rank {rank}", node.name);
    }
    let axis = axis.max(0) as usize;
    let block_size = NonZeroUsize::new(int_attribute(node, "block_size").unwrap_or(0).max(0) as usize);
    check_parameter_shape(node, quantized.shape(), scale.shape(), axis, block_size)?;

    let weights = dequantize(&quantized, &scale, &zero_point, axis, block_size);
    Ok(f32_tensor_proto(&node.output[0], &weights))
}

/// Refuses scale shapes that do not cover the tensor, so that a malformed
/// model is an error rather than an out-of-bounds panic.
fn check_parameter_shape(
    node: &NodeProto,
    data: &[usize],
    scale: &[usize],
    axis: usize,
    block_size: Option<NonZeroUsize>,
) -> TractResult<()> {
    let covers =
        match block_size {
            _ if scale.iter().product::<usize>() == 1 => true,
            None => scale == [data[axis]],
            Some(block_size) => {
                scale.len() == data.len()
                    && data.iter().zip(scale).enumerate().all(|(i, (&d, &s))| {
                        if i == axis { s == d.div_ceil(block_size.get()) } else { s == d }
                    })
            }
        };
    if !covers {
        bail!("{}: scale shape {scale:?} does not fit data {data:?} on axis {axis}", node.name);
    }
    Ok(())
}

fn fold_reshape(node: &NodeProto, initializers: &HashMap<String, TensorProto>) -> TractResult<TensorProto> {
    let data = &initializers[&node.input[0]];
    let requested: Vec<i64> = load_tensor(&initializers[&node.input[1]])?
        .cast_to::<i64>()?
        .to_plain_array_view::<i64>()?
        .iter()
        .copied()
        .collect();
    let old_dims = &data.dims;
    let element_count: i64 = old_dims.iter().product();
    // ONNX semantics: 0 copies the input dimension, -1 is inferred.
    let mut dims: Vec<i64> =
        requested.iter().enumerate().map(|(i, &d)| if d == 0 { old_dims[i] } else { d }).collect();
    if let Some(unknown) = dims.iter().position(|&d| d == -1) {
        let known: i64 = dims.iter().filter(|&&d| d != -1).product();
        dims[unknown] = element_count / known.max(1);
    }
    if dims.iter().product::<i64>() != element_count {
        bail!("{}: cannot reshape {old_dims:?} to {requested:?}", node.name);
    }
    let mut reshaped = data.clone();
    reshaped.name = node.output[0].clone();
    reshaped.dims = dims;
    Ok(reshaped)
}

fn load_tensor(proto: &TensorProto) -> TractResult<Tensor> {
    tract_onnx::tensor::load_tensor(&MmapDataResolver, proto, None)
}

fn load_f32(proto: &TensorProto) -> TractResult<ArrayD<f32>> {
    Ok(load_tensor(proto)?.cast_to::<f32>()?.to_plain_array_view::<f32>()?.to_owned())
}

fn int_attribute(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// `(q − zero_point) · scale` over the flat data. The tensor is viewed as
/// `outer × along × inner` around `axis`; the parameters have the same layout
/// with `along` shrunk to its number of blocks (blocked), or are indexed by
/// the position along the axis alone (per-axis), or are one scalar.
fn dequantize(
    quantized: &ArrayD<f32>,
    scale: &ArrayD<f32>,
    zero_point: &ArrayD<f32>,
    axis: usize,
    block_size: Option<NonZeroUsize>,
) -> ArrayD<f32> {
    let q = quantized.as_standard_layout();
    let (scale, zero_point) = (scale.as_standard_layout(), zero_point.as_standard_layout());
    let (q_flat, s_flat, z_flat) = (
        q.as_slice().expect("standard layout"),
        scale.as_slice().expect("standard layout"),
        zero_point.as_slice().expect("standard layout"),
    );
    let shape = quantized.shape();
    let along = shape.get(axis).copied().unwrap_or(1);
    let inner: usize = shape.iter().skip(axis + 1).product();
    let blocks = block_size.map_or(1, |size| along.div_ceil(size.get()));
    let param = |outer: usize, k: usize, j: usize| -> usize {
        match block_size {
            _ if s_flat.len() == 1 => 0,
            None => k,
            Some(size) => (outer * blocks + k / size.get()) * inner + j,
        }
    };
    let mut weights = Vec::with_capacity(q_flat.len());
    for (row, chunk) in q_flat.chunks(inner.max(1)).enumerate() {
        let (outer, k) = (row / along, row % along);
        for (j, &value) in chunk.iter().enumerate() {
            let p = param(outer, k, j);
            weights.push((value - z_flat[p]) * s_flat[p]);
        }
    }
    ArrayD::from_shape_vec(quantized.raw_dim(), weights).expect("one weight per quantised value")
}

fn f32_tensor_proto(name: &str, values: &ArrayD<f32>) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: values.shape().iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}
