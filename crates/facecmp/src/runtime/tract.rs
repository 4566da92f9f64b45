//! tract: the pure-Rust engine that is always built in.
//!
//! tract optimises far better for concrete shapes than for symbolic ones
//! (measured: YuNet 8× and SFace 2× slower per run with symbolic sizes, and
//! decluttering YuNet symbolically alone takes 0.4 s), so the prepared graph is
//! kept as ONNX, and an optimised plan is built for each concrete input shape
//! the first time it is seen (YuNet: ≈ 40 ms). A camera or a batch size
//! repeats its shape, so in practice a handful of plans serve everything.

use std::sync::{Arc, Mutex};

use tract_linalg::multithread::{Executor, set_default_executor};
use tract_onnx::prelude::*;

use tract_onnx::pb::ModelProto;

use tract_onnx::tract_hir::internal::bail;

use super::graph::{Weights, prepare, set_input_shape, with_input_shape};
use super::{Dim, NchwTensor, Network, NetworkSpec, OutputTensor, RuntimeError};

/// Plans kept per network; beyond this, the least recently used is dropped,
/// so photos of ever-new sizes cannot grow memory without bound.
const MAX_PLANS: usize = 8;

type Plan = Arc<TypedRunnableModel>;

pub struct TractNetwork {
    name: String,
    /// The prepared graph (weights folded), input size still open; `None`
    /// when the network only ever runs at one shape, planned at load (SFace:
    /// batches run one face at a time, always 1×3×112×112), so that the
    /// fp32 weights are not held twice.
    graph: Option<ModelProto>,
    outputs: Vec<String>,
    /// Optimised plans by concrete input shape, most recently used last.
    plans: Mutex<Vec<([usize; 4], Plan)>>,
}

impl TractNetwork {
    /// Parses an ONNX model, folds its constant quantised weights and
    /// simplifies it; `warm_shape`, if given, is planned right away.
    pub fn load(
        name: &str,
        onnx_bytes: &[u8],
        spec: &NetworkSpec,
        warm_shape: Option<[usize; 4]>,
    ) -> Result<Self, RuntimeError> {
        let failed = |e: TractError| RuntimeError::Load { model: name.to_string(), reason: format!("{e:#}") };
        let mut graph = prepare(onnx_bytes, spec, Weights::Fold).map_err(failed)?;
        let mut network = Self {
            name: name.to_string(),
            graph: None,
            outputs: spec.outputs.iter().map(|name| name.to_string()).collect(),
            plans: Mutex::new(Vec::new()),
        };
        if let Some(shape) = single_item_shape(spec) {
            set_input_shape(&mut graph, shape);
            let plan = build_plan(graph, &network.outputs).map_err(failed)?;
            network.plans.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).push((shape, plan));
            return Ok(network);
        }
        network.graph = Some(graph);
        if let Some(shape) = warm_shape {
            network.plan_for(shape).map_err(failed)?;
        }
        Ok(network)
    }

    /// The optimised plan for `shape`, built on first use.
    fn plan_for(&self, shape: [usize; 4]) -> TractResult<Plan> {
        {
            let mut plans = self.plans.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(at) = plans.iter().position(|(planned, _)| *planned == shape) {
                let entry = plans.remove(at);
                let plan = entry.1.clone();
                plans.push(entry);
                return Ok(plan);
            }
        }
        let Some(graph) = &self.graph else {
            bail!("the network was planned for one input shape only, not {shape:?}");
        };
        // Built outside the lock: planning takes tens of milliseconds and
        // other shapes should not wait for it.
        let plan = build_plan(with_input_shape(graph, shape), &self.outputs)?;
        let mut plans = self.plans.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if plans.len() >= MAX_PLANS {
            plans.remove(0);
        }
        plans.push((shape, plan.clone()));
        Ok(plan)
    }
}

/// The one shape a network runs at when only its batch size is open: tract
/// runs a batch one item at a time (see [`Network::run`] below).
fn single_item_shape(spec: &NetworkSpec) -> Option<[usize; 4]> {
    let [_, channels, height, width] = spec.input;
    match (channels, height, width) {
        (Dim::Fixed(channels), Dim::Fixed(height), Dim::Fixed(width)) => Some([1, channels, height, width]),
        _ => None,
    }
}

/// Optimises a graph whose input shape is fixed into a runnable plan. The
/// protobuf is dropped as soon as tract has parsed it, so that its weights
/// are not held alongside tract's own copy while the plan is optimised.
fn build_plan(graph: ModelProto, outputs: &[String]) -> TractResult<Plan> {
    let model = tract_onnx::onnx().model_for_proto_model(&graph)?;
    drop(graph);
    model.with_outputs_by_name(outputs)?.into_optimized()?.into_runnable()
}

impl Network for TractNetwork {
    /// A batch runs as one call per item, outputs stacked along axis 0: tract's
    /// batched plans are slower per item than single ones (SFace: 80 ms a
    /// face at batch 8 against 47 ms at batch 1, measured).
    fn run(&self, input: NchwTensor) -> Result<Vec<OutputTensor>, RuntimeError> {
        let [batch, channels, height, width] = input.shape;
        if batch <= 1 {
            return self.run_single(input);
        }
        let item_len = channels * height * width;
        let mut stacked: Vec<OutputTensor> = Vec::new();
        for item in input.data.chunks_exact(item_len) {
            let outputs =
                self.run_single(NchwTensor { shape: [1, channels, height, width], data: item.to_vec() })?;
            if stacked.is_empty() {
                stacked = outputs;
            } else {
                for (total, output) in stacked.iter_mut().zip(outputs) {
                    total.data.extend(output.data);
                }
            }
        }
        for output in &mut stacked {
            if let Some(first) = output.shape.first_mut() {
                *first = batch;
            }
        }
        Ok(stacked)
    }
}

impl TractNetwork {
    fn run_single(&self, input: NchwTensor) -> Result<Vec<OutputTensor>, RuntimeError> {
        let failed = |e: TractError| RuntimeError::Run { model: self.name.clone(), reason: format!("{e:#}") };
        let plan = self.plan_for(input.shape).map_err(failed)?;
        let tensor = Tensor::from_shape(&input.shape, &input.data).map_err(failed)?;
        let outputs = plan.run(tvec!(tensor.into())).map_err(failed)?;
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
