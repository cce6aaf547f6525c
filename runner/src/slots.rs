//! The process's CPU and GPU slots, shared by every run in it.
//!
//! A stage asks for some CPU slots (threads it will keep busy) and maybe the
//! GPU; it holds its [`Grant`] for its whole run. Slots are created once per
//! process, so two pipelines run side by side share the machine instead of
//! each taking every core. Waiting is first come, first served (tokio's
//! semaphores are fair), so a stage that needs many slots is not starved by a
//! stream of small ones.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// More slots than any machine has cores (and far below the semaphores' limit).
pub const MAX_SLOTS: usize = 4096;

#[derive(Clone)]
pub struct Slots {
    cpu: Arc<Semaphore>,
    gpu: Arc<Semaphore>,
    cpu_total: usize,
}

impl Slots {
    /// `cpu` CPU slots and `gpu` GPU slots (one per device); at least one
    /// of each, at most [`MAX_SLOTS`].
    pub fn new(cpu: usize, gpu: usize) -> Self {
        let (cpu, gpu) = (cpu.clamp(1, MAX_SLOTS), gpu.clamp(1, MAX_SLOTS));
        Self {
            cpu: Arc::new(Semaphore::new(cpu)),
            gpu: Arc::new(Semaphore::new(gpu)),
            cpu_total: cpu,
        }
    }

    /// The machine's cores: the default number of CPU slots.
    pub fn cores() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    pub fn cpu_total(&self) -> usize {
        self.cpu_total
    }

    /// Wait for `cpu` CPU slots (clamped to 1..=total, so a stage asking for
    /// "every core" gets them all) and, if `gpu`, a GPU slot.
    pub async fn acquire(&self, cpu: usize, gpu: bool) -> Grant {
        let cpu = self.clamp(cpu);
        // These semaphores are never closed, so acquiring cannot fail. GPU
        // first, then CPU, in every caller: no two waiters hold each other's
        // next slot, and a stage waiting for the GPU holds no CPU slots.
        let gpu = match gpu {
            true => Some(
                Arc::clone(&self.gpu)
                    .acquire_owned()
                    .await
                    .expect("GPU slots are never closed"),
            ),
            false => None,
        };
        let cpu = Arc::clone(&self.cpu)
            .acquire_many_owned(cpu as u32)
            .await
            .expect("CPU slots are never closed");
        Grant { cpu, _gpu: gpu }
    }

    /// What a request for `cpu` slots is granted.
    pub fn clamp(&self, cpu: usize) -> usize {
        cpu.clamp(1, self.cpu_total)
    }
}

/// Slots held by one running stage; returned to the pool when dropped.
pub struct Grant {
    cpu: OwnedSemaphorePermit,
    _gpu: Option<OwnedSemaphorePermit>,
}

impl Grant {
    /// Threads the stage may keep busy.
    pub fn threads(&self) -> usize {
        self.cpu.num_permits()
    }
}
