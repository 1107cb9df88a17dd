//! Process-wide resource figures: CPU time from `/proc/self/stat` and
//! memory from `/proc/self/status` (Linux; elsewhere the figures are
//! absent), plus small statistics helpers.

/// Clock ticks per second of `/proc/self/stat` times. Linux reports them in
/// USER_HZ, which is 100 on every architecture it supports.
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) this process has used so far.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; it ends at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file are utime and stime; `rest` starts at field 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

fn status_kib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
}

/// Resident memory now, MiB.
pub fn rss_mib() -> Option<f64> {
    status_kib("VmRSS:").map(|k| k / 1024.0)
}

/// Peak resident memory of the process so far (VmHWM), MiB.
pub fn peak_rss_mib() -> Option<f64> {
    status_kib("VmHWM:").map(|k| k / 1024.0)
}

/// The highest resident memory of the process, sampled every `every`
/// from when it starts until it is stopped.
#[derive(Debug)]
pub struct PeakRssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<f64>,
}

impl PeakRssSampler {
    /// Starts sampling on the current tokio runtime.
    pub fn start(every: std::time::Duration) -> PeakRssSampler {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut peak = rss_mib().unwrap_or(0.0);
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(rss_mib().unwrap_or(0.0));
                tokio::time::sleep(every).await;
            }
            peak.max(rss_mib().unwrap_or(0.0))
        });
        PeakRssSampler { stop, task }
    }

    /// Stops sampling; the peak in MiB (`None` where memory cannot be read).
    pub async fn stop(self) -> Option<f64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = self.task.await.ok()?;
        rss_mib().map(|_| peak)
    }
}

/// The `p` quantile (0..=1) of sorted values, nearest rank; `None` if empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_proc_figures() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(51.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 1.0), Some(100.0));
        assert_eq!(percentile(&[], 0.5), None);
        if cfg!(target_os = "linux") {
            assert!(cpu_seconds().is_some());
            assert!(rss_mib().expect("rss") > 1.0);
            assert!(peak_rss_mib().expect("hwm") >= rss_mib().expect("rss") * 0.5);
        }
    }
}
