//! The model worker: one OS thread that takes classification jobs from a bounded queue, merges
//! the jobs waiting at that moment into one batch, and runs the batch on a rayon pool of a fixed
//! number of threads. The async runtime only awaits a oneshot reply, so it never blocks on the
//! model, and concurrent requests share forward passes instead of competing for cores.
//!
//! When the model panics on a batch of several jobs, each job is run again alone, so that a
//! text that makes the model fail only fails its own request; a job that fails alone gets
//! [`WorkerError::Failed`]. The worker goes on with the next batch either way.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::BatchHook;
use super::metrics::Metrics;
use crate::predict::{Classifier, Prediction};

/// A request's texts and the channel for their predictions (in the same order).
struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Prediction>, WorkerError>>,
}

/// Why a job got no predictions.
#[derive(Debug, PartialEq, Eq)]
pub enum WorkerError {
    /// The worker has stopped (the service is shutting down).
    Gone,
    /// The model panicked on the job's texts, run alone; the message of the panic.
    Failed(String),
}

/// Handle to the model worker; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    tx: mpsc::Sender<Job>,
}

impl Worker {
    /// Starts the worker thread with a rayon pool of `threads` threads (0 = one per core).
    /// At most `queue` jobs wait; further submitters wait for room. A batch holds at most
    /// `max_batch` texts unless a single job is larger. `hook`, when given, is called with each
    /// batch's texts inside its forward pass (see [`BatchHook`]).
    pub fn spawn(
        classifier: Arc<Classifier>,
        threads: usize,
        max_batch: usize,
        queue: usize,
        metrics: Arc<Metrics>,
        hook: Option<BatchHook>,
    ) -> Worker {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let model = Model {
            classifier,
            pool: crate::nn::thread_pool(threads),
            hook,
            metrics,
        };
        std::thread::Builder::new()
            .name("textcnn-model".into())
            .spawn(move || run(rx, &model, max_batch.max(1)))
            .expect("cannot start the model worker thread");
        Worker { tx }
    }

    /// Classifies `texts`; resolves when their batch is done.
    ///
    /// # Errors
    /// [`WorkerError::Gone`] when the worker has stopped, [`WorkerError::Failed`] when the
    /// model panicked on these texts.
    pub async fn predict(&self, texts: Vec<String>) -> Result<Vec<Prediction>, WorkerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { texts, reply })
            .await
            .map_err(|_| WorkerError::Gone)?;
        rx.await.map_err(|_| WorkerError::Gone)?
    }

    /// Jobs in the queue, not yet taken by the worker.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// What runs a batch.
struct Model {
    classifier: Arc<Classifier>,
    pool: rayon::ThreadPool,
    hook: Option<BatchHook>,
    metrics: Arc<Metrics>,
}

impl Model {
    /// The predictions of `texts`, or the message of the panic that stopped them.
    fn predict(&self, texts: &[&str]) -> Result<Vec<Prediction>, String> {
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.pool.install(|| {
                if let Some(hook) = &self.hook {
                    (hook.0)(texts);
                }
                self.classifier.predict(texts)
            })
        }));
        match result {
            Ok(predictions) => {
                self.metrics.batch_done(texts.len());
                Ok(predictions)
            }
            Err(payload) => {
                self.metrics.batch_failed();
                Err(panic_message(payload.as_ref()))
            }
        }
    }
}

/// The message of a panic (`panic!("...")` gives a `&str` or a `String`).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn run(mut rx: mpsc::Receiver<Job>, model: &Model, max_batch: usize) {
    let mut pending: Option<Job> = None;
    loop {
        let first = match pending.take() {
            Some(job) => job,
            None => match rx.blocking_recv() {
                Some(job) => job,
                None => return,
            },
        };
        let mut n = first.texts.len();
        let mut jobs = vec![first];
        while n < max_batch {
            match rx.try_recv() {
                Ok(job) if n + job.texts.len() > max_batch => {
                    pending = Some(job);
                    break;
                }
                Ok(job) => {
                    n += job.texts.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        // Requests that timed out or whose client left need no work.
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let texts: Vec<&str> = jobs
            .iter()
            .flat_map(|j| j.texts.iter().map(String::as_str))
            .collect();
        match model.predict(&texts) {
            Ok(predictions) => {
                let mut rest = predictions.into_iter();
                for job in jobs {
                    let mine: Vec<Prediction> = rest.by_ref().take(job.texts.len()).collect();
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(message) if jobs.len() == 1 => {
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(WorkerError::Failed(message)));
                }
            }
            // Which job's texts made it fail is unknown: each runs again alone.
            Err(_) => {
                for job in jobs {
                    let texts: Vec<&str> = job.texts.iter().map(String::as_str).collect();
                    let _ = job
                        .reply
                        .send(model.predict(&texts).map_err(WorkerError::Failed));
                }
            }
        }
    }
}
