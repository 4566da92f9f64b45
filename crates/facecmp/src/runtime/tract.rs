//! tract: the pure-Rust engine that is always built in.

use std::sync::Arc;

use tract_linalg::multithread::{Executor, set_default_executor};
use tract_onnx::prelude::*;

use super::graph::prepare;
use super::{NchwTensor, Network, NetworkSpec, OutputTensor, RuntimeError};

pub struct TractNetwork {
    name: String,
    plan: Arc<TypedRunnableModel>,
}

impl TractNetwork {
    /// Parses an ONNX model, folds its constant quantised weights, fixes the
    /// input shape and optimises it for this CPU.
    pub fn load(name: &str, onnx_bytes: &[u8], spec: &NetworkSpec) -> Result<Self, RuntimeError> {
        let plan = build_plan(onnx_bytes, spec)
            .map_err(|e| RuntimeError::Load { model: name.to_string(), reason: format!("{e:#}") })?;
        Ok(Self { name: name.to_string(), plan })
    }
}

fn build_plan(onnx_bytes: &[u8], spec: &NetworkSpec) -> TractResult<Arc<TypedRunnableModel>> {
    let proto = prepare(onnx_bytes, spec)?;
    let model = tract_onnx::onnx().model_for_proto_model(&proto)?;
    model.with_outputs_by_name(&spec.outputs)?.into_optimized()?.into_runnable()
}

impl Network for TractNetwork {
    fn run(&self, input: NchwTensor) -> Result<Vec<OutputTensor>, RuntimeError> {
        let failed = |e: TractError| RuntimeError::Run { model: self.name.clone(), reason: format!("{e:#}") };
        let tensor = Tensor::from_shape(&input.shape, &input.data).map_err(failed)?;
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(failed)?;
        outputs
            .iter()
            .map(|value| {
                let view = value.to_plain_array_view::<f32>()?;
                Ok(OutputTensor { shape: view.shape().to_vec(), data: view.iter().copied().collect() })
            })
            .collect::<TractResult<_>>()
            .map_err(failed)
    }
}

pub(super) fn set_threads(threads: usize) {
    let threads = if threads == 0 { super::available_threads() } else { threads };
    if threads > 1 {
        set_default_executor(Executor::multithread(threads));
    } else {
        set_default_executor(Executor::SingleThread);
    }
}
