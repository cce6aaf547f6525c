//! Child processes that die with us.
//!
//! Every child (ffmpeg, ffprobe, an `exec` command) is started through
//! [`spawn`]: in its own process group (a terminal's Ctrl-C reaches only us,
//! and we stop the children ourselves), with the kernel told to kill it if the
//! thread that started it dies (`PR_SET_PDEATHSIG`: a killed server leaves no
//! orphans), and registered so that [`kill_children`] can kill every group
//! before an abrupt exit. [`Child`] waits with cancellation and a timeout,
//! kills the whole group (grandchildren too), and keeps the tail of stderr
//! without ever blocking on a grandchild that holds the pipe open.
//!
//! `PR_SET_PDEATHSIG` fires when the spawning *thread* exits: spawn children
//! from the thread that waits for them (a stage's own thread), as every
//! caller here does.

use crate::CancelToken;
use std::collections::{HashSet, VecDeque};
use std::io::{self, BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Lines of stderr kept for error messages.
const TAIL_LINES: usize = 20;
/// How long a finished child's stderr may stay open (held by a grandchild)
/// before we stop waiting for it.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(10);
/// How often a cancel watcher looks at its token.
const WATCH: Duration = Duration::from_millis(20);

/// Process groups of live children, for [`kill_children`].
static GROUPS: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

fn groups() -> std::sync::MutexGuard<'static, Option<HashSet<u32>>> {
    GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Kill every child process group still running (before exiting at once).
pub fn kill_children() {
    for pgid in groups().iter().flatten() {
        kill_group(*pgid);
    }
}

#[cfg(unix)]
fn kill_group(pgid: u32) {
    // SAFETY: killpg only sends a signal.
    unsafe {
        libc::killpg(pgid as libc::pid_t, libc::SIGKILL);
    }
}

#[cfg(not(unix))]
fn kill_group(_pgid: u32) {}

/// Why [`Child::wait`] stopped waiting.
#[derive(Debug)]
pub enum Stopped {
    Cancelled,
    TimedOut(Duration),
    Io(io::Error),
}

/// How long we have been waiting on a child's pipe without progress, for
/// [`Child::watch`]'s stall check. Only time spent waiting counts: a caller
/// busy elsewhere (a slow render between two reads) is not the child stalling.
#[derive(Clone)]
pub struct Heartbeat {
    start: Instant,
    last_ms: Arc<AtomicU64>,
    waiting: Arc<AtomicBool>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
            waiting: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Heartbeat {
    /// About to block on the pipe.
    pub fn wait(&self) {
        self.beat();
        self.waiting.store(true, Ordering::SeqCst);
    }

    /// Data moved.
    pub fn beat(&self) {
        let now = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// No longer blocked on the pipe.
    pub fn done(&self) {
        self.waiting.store(false, Ordering::SeqCst);
    }

    fn idle(&self) -> Duration {
        if !self.waiting.load(Ordering::SeqCst) {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A running child (see the module docs). Dropping it kills its group.
///
/// The group is only ever signalled while its leader (our child) is not yet
/// reaped: until then its pid, which is the group's id, cannot be reused, so
/// a signal can never reach an unrelated process. Exit is detected without
/// reaping (`waitid` with `WNOWAIT`), the group killed, and only then the
/// child reaped, under the same lock a cancel watcher takes.
pub struct Child {
    inner: std::process::Child,
    stderr: Option<Tail>,
    /// True once reaped; held while signalling or reaping.
    reaped: Arc<Mutex<bool>>,
}

/// Start `cmd` with stderr piped and drained into a tail in the background.
/// Stdin and stdout are the caller's to set (`Stdio::null()` for what the
/// child should not use: a dropped pipe would kill a child that writes to it).
pub fn spawn(cmd: &mut Command) -> io::Result<Child> {
    cmd.stderr(Stdio::piped());
    die_with_us(cmd);
    let mut inner = cmd.spawn()?;
    groups().get_or_insert_with(HashSet::new).insert(inner.id());
    let stderr = inner.stderr.take().map(Tail::drain);
    Ok(Child {
        inner,
        stderr,
        reaped: Arc::new(Mutex::new(false)),
    })
}

#[cfg(unix)]
fn die_with_us(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    #[cfg(target_os = "linux")]
    {
        // SAFETY: the closure runs between fork and exec and calls only
        // async-signal-safe functions (prctl, getppid, _exit).
        let parent = std::process::id() as libc::pid_t;
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // The parent died before prctl took effect.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
}

#[cfg(not(unix))]
fn die_with_us(_cmd: &mut Command) {}

/// Whether child `pid` has exited, without reaping it (its pid stays taken).
#[cfg(unix)]
fn has_exited(pid: u32) -> io::Result<bool> {
    // SAFETY: waitid writes only into `info`, which is zeroed and ours.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(info.si_pid() != 0)
    }
}

fn lock(flag: &Mutex<bool>) -> std::sync::MutexGuard<'_, bool> {
    flag.lock().unwrap_or_else(|p| p.into_inner())
}

impl Child {
    pub fn inner(&mut self) -> &mut std::process::Child {
        &mut self.inner
    }

    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Kill the group as soon as `cancel` fires, from a watcher thread, so a
    /// read or write blocked on the child's pipes returns at once (rather than
    /// when the caller next looks at the token).
    pub fn kill_on_cancel(&self, cancel: &CancelToken) {
        self.watch(cancel, None);
    }

    /// Kill the group when `cancel` fires, or when `stall` is given and its
    /// heartbeat has not beaten for that long (a child that neither exits nor
    /// makes progress: a hung network mount, say). Returns a flag that is set
    /// if the child was killed for stalling, so the reader can say so rather
    /// than take the closed pipe for the end of the stream.
    pub fn watch(
        &self,
        cancel: &CancelToken,
        stall: Option<(Heartbeat, Duration)>,
    ) -> Arc<AtomicBool> {
        let stalled = Arc::new(AtomicBool::new(false));
        let (cancel, reaped, pgid) = (cancel.clone(), Arc::clone(&self.reaped), self.inner.id());
        let flag = Arc::clone(&stalled);
        std::thread::spawn(move || loop {
            let reaped = lock(&reaped);
            if *reaped {
                return;
            }
            let stuck = stall
                .as_ref()
                .is_some_and(|(beat, limit)| beat.idle() > *limit);
            if cancel.is_cancelled() || stuck {
                flag.store(stuck, Ordering::SeqCst);
                kill_group(pgid);
                return;
            }
            drop(reaped);
            std::thread::sleep(WATCH);
        });
        stalled
    }

    /// Wait for exit; kill the group if `cancel` fires or `timeout` passes first.
    pub fn wait(
        &mut self,
        cancel: &CancelToken,
        timeout: Option<Duration>,
    ) -> Result<ExitStatus, Stopped> {
        let start = Instant::now();
        loop {
            if cancel.is_cancelled() {
                self.kill();
                return Err(Stopped::Cancelled);
            }
            if let Some(limit) = timeout.filter(|t| start.elapsed() > *t) {
                self.kill();
                return Err(Stopped::TimedOut(limit));
            }
            match self.exited() {
                // Grandchildren left in the group (holding our pipes, say) go too.
                Ok(true) => return self.reap(true).map_err(Stopped::Io),
                Ok(false) => std::thread::sleep(POLL),
                Err(e) => {
                    self.kill();
                    return Err(Stopped::Io(e));
                }
            }
        }
    }

    #[cfg(unix)]
    fn exited(&self) -> io::Result<bool> {
        has_exited(self.inner.id())
    }

    #[cfg(not(unix))]
    fn exited(&mut self) -> io::Result<bool> {
        Ok(self.inner.try_wait()?.is_some())
    }

    /// Kill the whole group and reap the child.
    pub fn kill(&mut self) {
        let _ = self.reap(true);
    }

    /// Under the lock: kill the group if asked (the leader still pins its
    /// id), then reap the child.
    fn reap(&mut self, kill: bool) -> io::Result<ExitStatus> {
        let reaped = Arc::clone(&self.reaped);
        let mut reaped = lock(&reaped);
        if kill && !*reaped {
            kill_group(self.inner.id());
            let _ = self.inner.kill();
        }
        let status = self.inner.wait();
        *reaped = true;
        if let Some(set) = groups().as_mut() {
            set.remove(&self.inner.id());
        }
        status
    }

    /// The last lines of stderr, joined by " | ". Waits briefly for the pipe
    /// to close, never for a grandchild that keeps it open.
    pub fn stderr_tail(&mut self) -> String {
        self.stderr.as_mut().map(Tail::text).unwrap_or_default()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last lines of a pipe, collected on a thread.
struct Tail {
    lines: Arc<Mutex<VecDeque<String>>>,
    drain: Option<JoinHandle<()>>,
}

impl Tail {
    fn drain(pipe: impl io::Read + Send + 'static) -> Self {
        let lines = Arc::new(Mutex::new(VecDeque::new()));
        let sink = Arc::clone(&lines);
        let drain = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push_back(line);
                    if l.len() > TAIL_LINES {
                        l.pop_front();
                    }
                }
            }
        });
        Self {
            lines,
            drain: Some(drain),
        }
    }

    fn text(&mut self) -> String {
        let start = Instant::now();
        while self.drain.as_ref().is_some_and(|h| !h.is_finished()) && start.elapsed() < DRAIN_GRACE
        {
            std::thread::sleep(POLL);
        }
        if self.drain.as_ref().is_some_and(JoinHandle::is_finished) {
            if let Some(h) = self.drain.take() {
                let _ = h.join();
            }
        }
        self.lines
            .lock()
            .map(|l| l.iter().cloned().collect::<Vec<_>>().join(" | "))
            .unwrap_or_default()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        c
    }

    /// Live (not zombie) processes in group `pgid`, from /proc.
    fn group_members(pgid: libc::pid_t) -> Vec<String> {
        let mut live = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // pid (comm) state ppid pgrp ...
            let Some(after) = stat.rsplit_once(") ").map(|(_, a)| a) else {
                continue;
            };
            let fields: Vec<&str> = after.split_whitespace().collect();
            if fields.len() > 2 && fields[2] == pgid.to_string() && fields[0] != "Z" {
                live.push(stat);
            }
        }
        live
    }

    #[test]
    fn a_grandchild_holding_stderr_does_not_hang_the_wait() {
        // The child exits at once; its background grandchild keeps stderr open.
        let mut child = spawn(&mut sh("echo oops >&2; sleep 30 & exit 3")).unwrap();
        let start = Instant::now();
        let status = child.wait(&CancelToken::default(), None).unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(child.stderr_tail().contains("oops"));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn cancel_and_timeout_kill_the_whole_group() {
        let cancel = CancelToken::default();
        let mut child = spawn(&mut sh("sleep 30 & sleep 30")).unwrap();
        let pgid = child.id() as libc::pid_t;
        let c = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            c.cancel();
        });
        assert!(matches!(child.wait(&cancel, None), Err(Stopped::Cancelled)));
        // No live process is left in the group (the grandchild `sleep` is
        // gone too; a zombie waiting for init to reap it does not count).
        // SIGKILL lands asynchronously: on a loaded machine the grandchild
        // may still be listed for a moment after the wait returns.
        let gone = Instant::now() + Duration::from_secs(2);
        while !group_members(pgid).is_empty() && Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(group_members(pgid).is_empty(), "{:?}", group_members(pgid));

        // A read blocked on the child's pipe returns once the token fires.
        let cancel = CancelToken::default();
        let mut quiet = spawn(&mut sh("sleep 30")).unwrap();
        quiet.kill_on_cancel(&cancel);
        let mut stdout = quiet.inner().stdout.take().unwrap();
        let c = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            c.cancel();
        });
        let start = Instant::now();
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).unwrap();
        assert!(start.elapsed() < Duration::from_secs(10));

        // A child that makes no progress is killed once its heartbeat is
        // quiet for the stall limit, and the flag says why.
        let stuck = spawn(&mut sh("sleep 30")).unwrap();
        let beat = Heartbeat::default();
        beat.wait();
        let stalled = stuck.watch(
            &CancelToken::default(),
            Some((beat, Duration::from_millis(200))),
        );
        let mut stuck = stuck;
        let mut stdout = stuck.inner().stdout.take().unwrap();
        let start = Instant::now();
        std::io::Read::read_to_end(&mut stdout, &mut Vec::new()).unwrap();
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(stalled.load(Ordering::SeqCst));

        let mut slow = spawn(&mut sh("sleep 30")).unwrap();
        let waited = slow.wait(&CancelToken::default(), Some(Duration::from_millis(100)));
        assert!(matches!(waited, Err(Stopped::TimedOut(_))));
    }
}
