//! The command line against careless and hostile input: outputs that fail,
//! numbers that are not numbers, files that are not files, photos that are
//! corrupt.
#![allow(clippy::unwrap_used)] // a test or a measurement: a panic is its failure report
#![allow(unsafe_code)] // libc calls (mkfifo, kill, limits) that set up the hostile conditions

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

fn facecmp() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_facecmp"));
    command.args(["--runtime", "tract"]).stdin(Stdio::null());
    command
}

/// Runs with a generous bound: a command that hangs (on a FIFO, say) is
/// killed and reported as such instead of hanging the test suite.
fn run_bounded(command: &mut Command) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("facecmp {:?} hung", command.get_args().collect::<Vec<_>>());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_full_disk_on_stdout_is_one_line_and_status_2() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let output =
        facecmp().arg("detect").arg(data("obama.jpg")).stdout(full).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "facecmp: cannot write to standard output: No space left on device (os error 28)\n"
    );
}

#[test]
fn numbers_that_are_not_finite_or_in_range_are_refused_by_name() {
    for (flag, value, expected) in [
        ("--detection-threshold", "nan", "not a finite number"),
        ("--detection-threshold", "1.5", "outside [0, 1]"),
        ("--min-face-size", "inf", "not a finite number"),
        ("--min-face-size", "-3", "outside [0, 16384]"),
        ("--threads", "5000", "not in 0..=256"),
    ] {
        let output =
            run_bounded(facecmp().arg(format!("{flag}={value}")).arg("detect").arg(data("obama.jpg")));
        assert_eq!(output.status.code(), Some(2), "{flag} {value}");
        let message = stderr(&output);
        assert!(message.contains(flag) && message.contains(expected), "{flag} {value}: {message}");
    }
}

#[test]
fn a_fifo_a_directory_or_a_device_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("camera.fifo");
    let path = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    for (input, kind) in [
        (fifo.clone(), "a FIFO"),
        (dir.path().to_path_buf(), "a directory"),
        (PathBuf::from("/dev/zero"), "a character device"),
    ] {
        for command in ["detect", "embed"] {
            let output = run_bounded(facecmp().arg(command).arg(&input));
            assert_eq!(output.status.code(), Some(2), "{command} {}", input.display());
            let message = stderr(&output);
            assert_eq!(
                message,
                format!(
                    "facecmp: {}: not a regular file ({kind}); give the path of an image file\n",
                    input.display()
                )
            );
        }
    }
}

#[test]
fn corrupt_jpegs_get_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(data("obama2.jpg")).unwrap();
    let sos = whole.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let scan_length = whole.len() - sos;
    // Cut short, with an end-of-image marker appended so that it looks whole.
    let mut truncated = whole[..sos + scan_length * 3 / 4].to_vec();
    truncated.extend_from_slice(&[0xFF, 0xD9]);
    // 5 % of the scan data cut from the middle.
    let middle = sos + scan_length / 2;
    let mut holed = whole[..middle].to_vec();
    holed.extend_from_slice(&whole[middle + scan_length / 20..]);
    for (name, bytes) in [("truncated.jpg", truncated), ("holed.jpg", holed)] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let compared = run_bounded(facecmp().arg("compare").arg(data("obama.jpg")).arg(&path));
        assert_eq!(compared.status.code(), Some(2), "{name}: {}", String::from_utf8_lossy(&compared.stdout));
        assert!(stderr(&compared).contains("image is corrupt or truncated"), "{name}: {}", stderr(&compared));
        for command in ["detect", "embed"] {
            let output = run_bounded(facecmp().arg(command).arg(&path));
            assert_eq!(output.status.code(), Some(2), "{command} {name}");
        }
    }
}
