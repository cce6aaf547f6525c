//! Wall time and peak memory of a command and all its child processes.

use std::collections::HashMap;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

pub struct Measured {
    pub status: ExitStatus,
    pub seconds: f64,
    /// Largest sum of resident memory over the process and its descendants, sampled every 20 ms.
    pub peak_tree_mib: f64,
    pub stdout: String,
    pub stderr: String,
}

fn rss_and_parent(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name: state ppid ... rss is field 24 (1-based).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid: u32 = fields.get(1)?.parse().ok()?;
    let rss_pages: u64 = fields.get(21)?.parse().ok()?;
    Some((ppid, rss_pages * 4096))
}

/// Resident bytes of `root` and every process below it.
fn tree_rss(root: u32) -> u64 {
    let mut procs: HashMap<u32, (u32, u64)> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            if let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) {
                if let Some(v) = rss_and_parent(pid) {
                    procs.insert(pid, v);
                }
            }
        }
    }
    let in_tree = |mut pid: u32| {
        for _ in 0..64 {
            if pid == root {
                return true;
            }
            match procs.get(&pid) {
                Some(&(ppid, _)) if ppid != 0 => pid = ppid,
                _ => return false,
            }
        }
        false
    };
    procs
        .iter()
        .filter(|(&pid, _)| in_tree(pid))
        .map(|(_, &(_, rss))| rss)
        .sum()
}

/// Run `cmd` to completion, sampling its process tree's memory.
pub fn measure(cmd: &mut Command) -> Measured {
    let out_path = std::env::temp_dir().join(format!("measure-{}-out", std::process::id()));
    let err_path = std::env::temp_dir().join(format!("measure-{}-err", std::process::id()));
    let start = Instant::now();
    let mut child = cmd
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawning the measured command");
    let mut peak = 0u64;
    let status = loop {
        peak = peak.max(tree_rss(child.id()));
        if let Some(status) = child.try_wait().expect("waiting") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = start.elapsed().as_secs_f64();
    Measured {
        status,
        seconds,
        peak_tree_mib: peak as f64 / 1048576.0,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}
