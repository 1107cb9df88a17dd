//! Process-wide resource figures: CPU time from `/proc/self/stat` and
//! memory from `/proc/self/status` (Linux; elsewhere the figures are
//! absent), plus small statistics helpers.

/// Clock ticks per second of `/proc/self/stat` times. Linux reports them in
/// USER_HZ, which is 100 on every architecture it supports.
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) this process has used so far.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat_name_and_ticks(&stat).map(|(_, ticks)| ticks / USER_HZ)
}

/// `(command name, utime + stime ticks)` of one `/proc/.../stat` line.
fn stat_name_and_ticks(stat: &str) -> Option<(&str, f64)> {
    // The command name (field 2) is in parentheses and may contain spaces
    // or parentheses; it ends at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Seconds on the CPU in a `/proc/.../schedstat` line (its first field,
/// in nanoseconds).
fn schedstat_seconds(schedstat: &str) -> Option<f64> {
    let ns: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// CPU seconds used so far by this process's live threads whose name
/// starts with `prefix` (Linux truncates thread names to 15 bytes). Threads
/// that have exited are not counted, so read it while the threads run.
///
/// Read from each thread's `schedstat`, the scheduler's nanosecond count: a
/// thread's `stat` times are sampled at timer ticks, and a thread that runs
/// in bursts of tens of microseconds on an otherwise idle core (a store
/// writer at 2 entries/s) is never running at a tick, so `stat` shows it
/// at zero. Falls back to `stat` where `schedstat` is missing. `None`
/// where `/proc/self/task` cannot be read.
pub fn threads_cpu_seconds(prefix: &str) -> Option<f64> {
    let mut seconds = 0.0;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // A thread may exit between the listing and the reads.
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((name, ticks)) = stat_name_and_ticks(&stat) else {
            continue;
        };
        if !name.starts_with(prefix) {
            continue;
        }
        seconds += std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|s| schedstat_seconds(&s))
            .unwrap_or(ticks / USER_HZ);
    }
    Some(seconds)
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

    #[test]
    fn a_stat_line_gives_its_thread_name_and_cpu_ticks() {
        // utime 250 and stime 50 ticks (fields 14 and 15); a name with a
        // space and a parenthesis.
        let line = "4242 (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0";
        assert_eq!(stat_name_and_ticks(line), Some(("odd) name", 300.0)));
        assert_eq!(stat_name_and_ticks("4242 no-parens S 1"), None);
        assert_eq!(stat_name_and_ticks("4242 (short) S 1 2"), None);
        assert_eq!(schedstat_seconds("1500000000 20000 7\n"), Some(1.5));
        assert_eq!(schedstat_seconds(""), None);
    }

    #[test]
    fn thread_cpu_counts_only_the_named_threads() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let burner = std::thread::Builder::new()
            .name("rm-test-burner".into())
            .spawn(|| {
                // Work until the named thread's CPU shows (ticks are 10 ms),
                // or give up after 30 s of wall time on a very busy machine.
                let start = std::time::Instant::now();
                let mut x = 0u64;
                loop {
                    for _ in 0..1_000_000 {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    std::hint::black_box(x);
                    let counted = threads_cpu_seconds("rm-test-burner");
                    if counted.is_none_or(|c| c >= 0.03)
                        || start.elapsed() > std::time::Duration::from_secs(30)
                    {
                        return counted;
                    }
                }
            })
            .expect("spawn");
        let counted = burner.join().expect("join").expect("linux /proc");
        assert!(counted >= 0.03, "the named thread's CPU is counted: {counted}");
        let none = threads_cpu_seconds("no-such-thread-prefix").expect("linux /proc");
        assert!(none.abs() < f64::EPSILON, "no thread matches: {none}");
    }
}
