//! With the `cuda` feature: compile `kernels/rife.cu` with nvcc into a fat
//! binary holding Hopper machine code (sm_90, what fal's H100s and our H200
//! run without a JIT step) and compute_80 PTX, which the driver compiles at
//! load time for any other card from the A100 on.

fn main() {
    println!("cargo::rerun-if-changed=kernels/rife.cu");
    println!("cargo::rerun-if-env-changed=NVCC");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let nvcc = std::env::var_os("NVCC").unwrap_or_else(|| "nvcc".into());
    let status = std::process::Command::new(&nvcc)
        .args(["-fatbin", "-O3", "-std=c++17"])
        .args(["-gencode", "arch=compute_90,code=sm_90"])
        .args(["-gencode", "arch=compute_80,code=compute_80"])
        .arg("-o")
        .arg(out.join("rife.fatbin"))
        .arg("kernels/rife.cu")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("nvcc failed ({s}) compiling kernels/rife.cu"),
        Err(e) => panic!(
            "cannot run nvcc ({e}): the cuda feature needs the CUDA toolkit on PATH; \
             `eval \"$(scripts/cuda-toolkit.sh)\"` assembles one"
        ),
    }
}
