//! CPU time a process has used, from `/proc/<pid>/stat`: how a ledger run says which process
//! its time went to (moto, or the functions with the sandbox and the driver).

/// Linux reports `utime` and `stime` in clock ticks of `USER_HZ`: 100 on x86_64 and aarch64,
/// the machines this runs on.
const TICKS_PER_SEC: f64 = 100.0;

/// User plus system CPU seconds of process `pid`, or `None` off Linux or once it is gone.
pub fn of_process(pid: u32) -> Option<f64> {
    read(&format!("/proc/{pid}/stat"))
}

/// The same for this process (all its threads).
pub fn of_this_process() -> Option<f64> {
    read("/proc/self/stat")
}

fn read(path: &str) -> Option<f64> {
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// `utime` + `stime` (fields 14 and 15) of a `stat` line. The command name (field 2) is in
/// parentheses and may hold spaces, so fields are counted after its closing one.
fn parse_stat(stat: &str) -> Option<f64> {
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// The CPU seconds used between `before` and `after`, when both were read.
pub fn used(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    Some(after? - before?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_summed_past_a_command_name_with_spaces() {
        let line =
            "4242 (python3 -m moto) S 1 4242 4242 0 -1 4194560 9 0 0 0 1234 566 0 0 20 0 3 0";
        assert_eq!(parse_stat(line), Some(18.0));
        assert_eq!(parse_stat("4242 (cut"), None);
        assert_eq!(used(Some(1.5), Some(4.0)), Some(2.5));
        assert_eq!(used(None, Some(4.0)), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_shows_the_cpu_it_spends() {
        let before = of_this_process().expect("readable on Linux");
        // Spins until a tick is counted (10 ms of CPU); 5 s without one means it is not read.
        let spin = std::time::Instant::now();
        while of_this_process().unwrap() <= before && spin.elapsed().as_secs() < 5 {
            std::hint::black_box(spin.elapsed());
        }
        assert!(of_this_process().unwrap() > before, "spinning shows as CPU");
    }

    #[test]
    fn a_process_that_does_not_exist_has_no_figure() {
        assert_eq!(of_process(u32::MAX), None);
    }
}
