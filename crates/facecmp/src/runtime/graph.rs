//! One prepared ONNX graph for every engine: parsed, constant weights folded,
//! input dimensions opened up, so tract and ONNX Runtime run the same network.

use tract_onnx::pb::{ModelProto, TypeProto, tensor_shape_proto, type_proto};
#[cfg(feature = "onnxruntime")]
use tract_onnx::pb::{NodeProto, ValueInfoProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::bail;

use super::fold::prune_unread;
use super::{Dim, NetworkSpec, fold_constant_weights};

/// Whether constant quantised weights are folded to fp32 before an engine
/// sees the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Folded here: tract cannot run blocked `DequantizeLinear`.
    Fold,
    /// Left quantised: ONNX Runtime dequantises them itself when it loads the
    /// graph (or multiplies them as int8, `ort::OrtNetwork::load`), and four
    /// times fewer bytes pass through facecmp.
    Keep,
}

/// Parses `onnx_bytes` and makes it runnable with `spec`'s input shape.
///
/// The exports declare fixed shapes (YuNet 1×3×640×640, SFace batch 1), but
/// both graphs are fully convolutional or batch-agnostic; the declared
/// dimensions are replaced by `spec`'s, and the stale output and
/// intermediate shapes are dropped so each engine infers them again.
pub fn prepare(onnx_bytes: &[u8], spec: &NetworkSpec, weights: Weights) -> TractResult<ModelProto> {
    let mut model = tract_onnx::onnx().proto_model_for_read(&mut &onnx_bytes[..])?;
    let Some(graph) = model.graph.as_mut() else { bail!("the ONNX file holds no graph") };
    match weights {
        Weights::Fold => {
            fold_constant_weights(graph)?;
        }
        Weights::Keep => prune_unread(graph),
    }
    let Some(input) = graph.input.first_mut() else { bail!("the graph has no input") };
    set_dims(input.r#type.get_or_insert_with(Default::default), &spec.input);
    for output in &mut graph.output {
        if let Some(type_proto::Value::TensorType(tensor)) =
            output.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            tensor.shape = None;
        }
    }
    graph.value_info.clear();
    Ok(model)
}

/// What says whether a graph can go to an engine as it is: its nodes and
/// declared inputs. Decoding only these fields skips the weights without
/// copying them (prost passes over fields a message does not declare).
#[cfg(feature = "onnxruntime")]
#[derive(Clone, PartialEq, prost::Message)]
struct Outline {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphOutline>,
}

#[cfg(feature = "onnxruntime")]
#[derive(Clone, PartialEq, prost::Message)]
struct GraphOutline {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
}

/// Whether ONNX Runtime can take `onnx_bytes` as they are, with nothing for
/// [`prepare`] to change: the first input is declared with `spec`'s
/// dimensions and no weight is quantised. Then the graph is neither parsed
/// nor encoded again, two copies of its weights fewer at the moment of peak
/// memory (dlib's ResNet: 22 MB each). Only ONNX Runtime is fed bytes;
/// tract always folds the graph.
#[cfg(feature = "onnxruntime")]
pub fn runs_as_declared(onnx_bytes: &[u8], spec: &NetworkSpec) -> bool {
    use prost::Message;
    let Some(graph) = Outline::decode(onnx_bytes).ok().and_then(|outline| outline.graph) else {
        return false;
    };
    let quantised = graph.node.iter().any(|node| node.op_type.contains("Quantize"));
    let declared = graph.input.first().and_then(|input| input.r#type.as_ref()).and_then(|t| t.value.as_ref());
    let Some(type_proto::Value::TensorType(tensor)) = declared else { return false };
    let dims = tensor.shape.as_ref().map(|shape| shape.dim.as_slice()).unwrap_or_default();
    let matches = |declared: &tensor_shape_proto::Dimension, wanted: &Dim| match (&declared.value, wanted) {
        (Some(tensor_shape_proto::dimension::Value::DimValue(n)), Dim::Fixed(m)) => *n == *m as i64,
        (Some(tensor_shape_proto::dimension::Value::DimParam(name)), Dim::Variable(_)) => !name.is_empty(),
        _ => false,
    };
    !quantised && dims.len() == spec.input.len() && dims.iter().zip(&spec.input).all(|(d, w)| matches(d, w))
}

/// The name of an ONNX file's first output (what a model card that names
/// none embeds with).
pub fn first_output_name(onnx_bytes: &[u8]) -> TractResult<String> {
    let model = tract_onnx::onnx().proto_model_for_read(&mut &onnx_bytes[..])?;
    let Some(output) = model.graph.as_ref().and_then(|graph| graph.output.first()) else {
        bail!("the ONNX file declares no output")
    };
    Ok(output.name.clone())
}

/// A copy of a prepared graph with its input fixed to `shape`.
pub fn with_input_shape(model: &ModelProto, shape: [usize; 4]) -> ModelProto {
    let mut model = model.clone();
    set_input_shape(&mut model, shape);
    model
}

/// Fixes a prepared graph's input to `shape`, in place.
pub fn set_input_shape(model: &mut ModelProto, shape: [usize; 4]) {
    if let Some(input) = model.graph.as_mut().and_then(|graph| graph.input.first_mut()) {
        set_dims(input.r#type.get_or_insert_with(Default::default), &shape.map(Dim::Fixed));
    }
}

fn set_dims(type_proto: &mut TypeProto, dims: &[Dim; 4]) {
    let dimension = |dim: &Dim| tensor_shape_proto::Dimension {
        value: Some(match dim {
            Dim::Fixed(n) => tensor_shape_proto::dimension::Value::DimValue(*n as i64),
            Dim::Variable(name) => tensor_shape_proto::dimension::Value::DimParam((*name).to_string()),
        }),
        ..Default::default()
    };
    if let Some(type_proto::Value::TensorType(tensor)) = type_proto.value.as_mut() {
        tensor.shape = Some(tract_onnx::pb::TensorShapeProto { dim: dims.iter().map(dimension).collect() });
    }
}

#[cfg(all(test, feature = "onnxruntime"))]
mod tests {
    use super::*;
    use crate::models::ModelSource;

    #[test]
    fn only_a_graph_declared_as_the_spec_runs_as_it_is() {
        let models = ModelSource::Bundled;
        let dlib = models.dlib().unwrap();
        assert!(runs_as_declared(&dlib.bytes, &crate::embed::DlibResNet::network_spec()));
        // SFace declares a batch of 1 and quantised weights; YuNet one 640×640 photo.
        let sface = models.embedder().unwrap();
        assert!(!runs_as_declared(&sface.bytes, &crate::embed::SFace::network_spec()));
        let yunet = models.detector().unwrap();
        assert!(!runs_as_declared(&yunet.bytes, &crate::detect::network_spec()));
        assert!(!runs_as_declared(b"not a model", &crate::embed::DlibResNet::network_spec()));
    }
}
