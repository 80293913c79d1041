//! The model worker: one OS thread that takes classification jobs from a bounded queue, merges
//! the jobs waiting at that moment into one batch, and runs the batch on a rayon pool of a fixed
//! number of threads. The async runtime only awaits a oneshot reply, so it never blocks on the
//! model, and concurrent requests share forward passes instead of competing for cores.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::metrics::Metrics;
use crate::predict::{Classifier, Prediction};

/// A request's texts and the channel for their predictions (in the same order).
struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Vec<Prediction>>,
}

/// Why a job got no predictions.
#[derive(Debug, PartialEq, Eq)]
pub enum WorkerError {
    /// The worker has stopped (it panicked or the service is shutting down).
    Gone,
}

/// Handle to the model worker; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    tx: mpsc::Sender<Job>,
}

impl Worker {
    /// Starts the worker thread with a rayon pool of `threads` threads (0 = one per core).
    /// At most `queue` jobs wait; further submitters wait for room. A batch holds at most
    /// `max_batch` texts unless a single job is larger.
    pub fn spawn(
        classifier: Arc<Classifier>,
        threads: usize,
        max_batch: usize,
        queue: usize,
        metrics: Arc<Metrics>,
    ) -> Worker {
        let (tx, rx) = mpsc::channel(queue.max(1));
        std::thread::Builder::new()
            .name("textcnn-model".into())
            .spawn(move || run(rx, &classifier, threads, max_batch.max(1), &metrics))
            .expect("cannot start the model worker thread");
        Worker { tx }
    }

    /// Classifies `texts`; resolves when their batch is done.
    pub async fn predict(&self, texts: Vec<String>) -> Result<Vec<Prediction>, WorkerError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { texts, reply })
            .await
            .map_err(|_| WorkerError::Gone)?;
        rx.await.map_err(|_| WorkerError::Gone)
    }
}

fn run(
    mut rx: mpsc::Receiver<Job>,
    classifier: &Classifier,
    threads: usize,
    max_batch: usize,
    metrics: &Metrics,
) {
    let pool = crate::nn::thread_pool(threads);
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
        let result = catch_unwind(AssertUnwindSafe(|| {
            pool.install(|| classifier.predict(&texts))
        }));
        // On a panic the jobs are dropped: their requests get an error, the worker goes on.
        let Ok(predictions) = result else { continue };
        metrics.batch_done(texts.len());
        let mut rest = predictions.into_iter();
        for job in jobs {
            let mine: Vec<Prediction> = rest.by_ref().take(job.texts.len()).collect();
            let _ = job.reply.send(mine);
        }
    }
}
