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

    // How many nodes read each value: a folded Reshape can then move a
    // weight tensor it alone reads instead of copying it.
    let mut readers: HashMap<String, usize> = HashMap::new();
    for name in graph.node.iter().flat_map(|n| &n.input) {
        *readers.entry(name.clone()).or_default() += 1;
    }
    let mut kept = Vec::with_capacity(graph.node.len());
    for node in graph.node.drain(..) {
        let all_constant = !node.input.is_empty()
            && node.input.iter().all(|name| name.is_empty() || initializers.contains_key(name));
        let folded = match node.op_type.as_str() {
            "DequantizeLinear" if all_constant => Some(fold_dequantize(&node, &initializers)?),
            "Reshape" if all_constant => Some(fold_reshape(&node, &mut initializers, &readers)?),
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
    let mut initializers: Vec<TensorProto> = initializers.into_values().collect();
    initializers.sort_by(|a, b| a.name.cmp(&b.name));
    graph.initializer = initializers;
    prune_unread(graph);
    Ok(report)
}

/// Drops initializers no node reads, and graph inputs that are initializers
/// or that no node reads. The SFace export declares its original fp32
/// weights as inputs that nothing reads; left in, every engine would expect
/// them to be fed at run time (ONNX Runtime refuses to run without them).
pub fn prune_unread(graph: &mut GraphProto) {
    let read: HashSet<String> = graph.node.iter().flat_map(|n| n.input.iter().cloned()).collect();
    graph.initializer.retain(|tensor| read.contains(&tensor.name));
    let constant: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    graph.input.retain(|input| read.contains(&input.name) && !constant.contains(input.name.as_str()));
}

fn fold_dequantize(
    node: &NodeProto,
    initializers: &HashMap<String, TensorProto>,
) -> TractResult<TensorProto> {
    let quantized = &initializers[&node.input[0]];
    let shape: Vec<usize> = quantized.dims.iter().map(|&d| d.max(0) as usize).collect();
    let scale_proto = &initializers[&node.input[1]];
    let scale_shape: Vec<usize> = scale_proto.dims.iter().map(|&d| d.max(0) as usize).collect();
    let scale = flat_f32(scale_proto)?;
    let zero_point = match node.input.get(2).filter(|name| !name.is_empty()) {
        Some(name) => flat_f32(&initializers[name])?,
        None => vec![0.0; scale.len()],
    };
    if zero_point.len() != scale.len() {
        bail!("{}: zero point and scale shapes differ", node.name);
    }
    let rank = shape.len() as i64;
    let axis = int_attribute(node, "axis").unwrap_or(1);
    let axis = if axis < 0 { axis + rank } else { axis };
    if !(0..rank).contains(&axis) && scale.len() != 1 {
        bail!("{}: axis {axis} is out of range for rank {rank}", node.name);
    }
    let axis = axis.max(0) as usize;
    let block_size = NonZeroUsize::new(int_attribute(node, "block_size").unwrap_or(0).max(0) as usize);
    check_parameter_shape(node, &shape, &scale_shape, axis, block_size)?;
    let values = flat_f32(quantized)?;
    let layout = Layout::new(&shape, axis, block_size, scale.len() == 1);
    let mut raw_data = Vec::with_capacity(values.len() * 4);
    // Row by row (one position along the axis), so the parameter index needs
    // no division per element.
    for (row, chunk) in values.chunks(layout.inner).enumerate() {
        let first = layout.first_parameter(row);
        for (j, &value) in chunk.iter().enumerate() {
            let p = first + j * layout.parameter_stride();
            raw_data.extend_from_slice(&((value - zero_point[p]) * scale[p]).to_le_bytes());
        }
    }
    Ok(TensorProto {
        name: node.output[0].clone(),
        dims: quantized.dims.clone(),
        data_type: DataType::Float as i32,
        raw_data,
        ..Default::default()
    })
}

/// Which scale and zero point apply to each element. The tensor is viewed as
/// `outer × along × inner` around `axis`; blocked parameters have the same
/// layout with `along` shrunk to its number of blocks, per-axis parameters
/// are indexed by the position along the axis alone, and a scalar is one.
struct Layout {
    along: usize,
    inner: usize,
    blocks: usize,
    block_size: Option<NonZeroUsize>,
    scalar: bool,
}

impl Layout {
    fn new(shape: &[usize], axis: usize, block_size: Option<NonZeroUsize>, scalar: bool) -> Layout {
        let along = shape.get(axis).copied().unwrap_or(1).max(1);
        let inner = shape.iter().skip(axis + 1).product::<usize>().max(1);
        let blocks = block_size.map_or(1, |size| along.div_ceil(size.get()));
        Layout { along, inner, blocks, block_size, scalar }
    }

    /// The parameter of the first element of `row` (one `outer × along` position).
    fn first_parameter(&self, row: usize) -> usize {
        let (outer, k) = (row / self.along, row % self.along);
        match self.block_size {
            _ if self.scalar => 0,
            None => k,
            Some(size) => (outer * self.blocks + k / size.get()) * self.inner,
        }
    }

    /// How far the parameter index moves from one element of a row to the next.
    fn parameter_stride(&self) -> usize {
        usize::from(self.block_size.is_some() && !self.scalar)
    }
}

/// A tensor's values as f32. The common raw 8-bit and f32 encodings are read
/// directly: going through a generic tensor costs several copies of SFace's
/// 10 M weights, which dominated start-up.
fn flat_f32(proto: &TensorProto) -> TractResult<Vec<f32>> {
    let raw = &proto.raw_data;
    match DataType::try_from(proto.data_type) {
        Ok(DataType::Int8) if !raw.is_empty() => Ok(raw.iter().map(|&b| f32::from(b as i8)).collect()),
        Ok(DataType::Uint8) if !raw.is_empty() => Ok(raw.iter().map(|&b| f32::from(b)).collect()),
        Ok(DataType::Float) if !raw.is_empty() => {
            Ok(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        }
        _ => {
            Ok(load_tensor(proto)?.cast_to::<f32>()?.to_plain_array_view::<f32>()?.iter().copied().collect())
        }
    }
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

fn fold_reshape(
    node: &NodeProto,
    initializers: &mut HashMap<String, TensorProto>,
    readers: &HashMap<String, usize>,
) -> TractResult<TensorProto> {
    let requested: Vec<i64> = load_tensor(&initializers[&node.input[1]])?
        .cast_to::<i64>()?
        .to_plain_array_view::<i64>()?
        .iter()
        .copied()
        .collect();
    let data = &initializers[&node.input[0]];
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
    let mut reshaped = match readers.get(&node.input[0]) {
        Some(1) => initializers.remove(&node.input[0]).expect("checked above"),
        _ => initializers[&node.input[0]].clone(),
    };
    reshaped.name = node.output[0].clone();
    reshaped.dims = dims;
    Ok(reshaped)
}

fn load_tensor(proto: &TensorProto) -> TractResult<Tensor> {
    tract_onnx::tensor::load_tensor(&MmapDataResolver, proto, None)
}

pub(super) fn int_attribute(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}
