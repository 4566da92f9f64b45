//! The engines every reference test runs on.

use facecmp::runtime::{Engine, RuntimeChoice};

/// tract always; ONNX Runtime when its library is installed. CI sets
/// FACECMP_REQUIRE_ORT=1 so that a missing library fails instead of skipping.
pub fn engines() -> Vec<Engine> {
    let mut engines = vec![Engine::Tract];
    match Engine::select(RuntimeChoice::Ort, None) {
        Ok((engine, _)) => engines.push(engine),
        Err(reason) if std::env::var_os("FACECMP_REQUIRE_ORT").is_some() => {
            panic!("FACECMP_REQUIRE_ORT is set but ONNX Runtime is unusable: {reason}")
        }
        Err(reason) => eprintln!("skipping ONNX Runtime: {reason}"),
    }
    engines
}

pub fn runtime_choice(engine: &Engine) -> RuntimeChoice {
    match engine {
        Engine::Tract => RuntimeChoice::Tract,
        _ => RuntimeChoice::Ort,
    }
}
