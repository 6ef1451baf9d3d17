//! The system clock inside and outside a simulation.

use std::time::{Duration, Instant, SystemTime};
use whatbreaks::clock;
use whatbreaks::sim::{RunLimits, simulate};

#[test]
fn the_installed_binary_reports_the_virtual_clock_installed() {
    assert_eq!(
        whatbreaks::os_clock::installed(),
        whatbreaks::os_clock::unsupported().is_none()
    );
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn std_clocks_follow_virtual_time_inside_a_simulation() {
    let before = Instant::now();
    let run = simulate(&RunLimits::new(7), || async {
        let (i0, s0, c0, t0) = (
            Instant::now(),
            SystemTime::now(),
            chrono::Utc::now(),
            tokio::time::Instant::now(),
        );
        tokio::time::sleep(Duration::from_secs(90)).await;
        let (i1, s1, c1, t1) = (
            Instant::now(),
            SystemTime::now(),
            chrono::Utc::now(),
            tokio::time::Instant::now(),
        );
        // A thread of its own during the run reads real time.
        let other = std::thread::spawn(|| (Instant::now(), SystemTime::now()))
            .join()
            .unwrap();
        (i0, s0, c0, t0, i1, s1, c1, t1, other)
    });
    let (i0, s0, c0, t0, i1, s1, c1, t1, (other_instant, other_wall)) = run.value.unwrap();
    assert_eq!(
        i1 - i0,
        Duration::from_secs(90),
        "Instant moved with virtual time"
    );
    assert_eq!(
        tokio::time::Instant::from_std(i0),
        t0,
        "tokio's instant is std's"
    );
    assert_eq!(tokio::time::Instant::from_std(i1), t1);
    assert_eq!(
        s0,
        clock::epoch(),
        "SystemTime starts at the simulation's epoch"
    );
    assert_eq!(s1, clock::epoch() + Duration::from_secs(90));
    assert_eq!(
        SystemTime::from(c1),
        s1,
        "chrono reads the virtual wall clock"
    );
    assert_eq!(SystemTime::from(c0), s0);
    // Outside: real time, on the other thread and on this one after the run.
    assert!(other_wall > clock::epoch() + Duration::from_secs(3600 * 24 * 300));
    assert!(other_instant.duration_since(before) < Duration::from_secs(60));
    assert!(
        before.elapsed() < Duration::from_secs(60),
        "the test thread stays real"
    );
    assert!(SystemTime::now() > clock::epoch() + Duration::from_secs(3600 * 24 * 300));
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn an_instance_wall_clock_carries_its_skew_into_system_time() {
    use whatbreaks::DoubleExecutionTest;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let _ = DoubleExecutionTest::new()
        .instances(2)
        .run_for(Duration::from_secs(3))
        .skew("1:+2s")
        .seed(3)
        .run(move |instance| {
            let s = s.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let wall = SystemTime::now();
                s.lock()
                    .unwrap()
                    .push((instance.id(), wall, instance.now()));
                instance.effect("tick", 0u64);
            }
        });
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (id, wall, instance_now) in seen.iter() {
        assert_eq!(
            wall, instance_now,
            "instance {id}: SystemTime::now() is its clock"
        );
    }
    let skewed = seen.iter().find(|(id, ..)| *id == 1).unwrap();
    assert_eq!(skewed.1, clock::epoch() + Duration::from_secs(3));
}

#[test]
fn real_time_outside_any_simulation() {
    let a = Instant::now();
    std::thread::sleep(Duration::from_millis(5));
    assert!(a.elapsed() >= Duration::from_millis(5));
    assert!(SystemTime::now() > clock::epoch());
}

/// Every schedule of the race explorer starts at virtual time zero: its wall clock reads the
/// epoch again (as its replay alone does), while `Instant` stays tokio's instant, which never
/// goes back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn each_race_schedule_starts_its_wall_clock_at_the_epoch() {
    let report = whatbreaks::RaceTest::new()
        .seed(3)
        .iterations(20)
        .run(|| async {
            assert_eq!(
                SystemTime::now(),
                clock::epoch(),
                "the schedule starts at the epoch"
            );
            let tokio_now = tokio::time::Instant::now();
            assert_eq!(tokio::time::Instant::from_std(Instant::now()), tokio_now);
            whatbreaks::join!(
                tokio::time::sleep(Duration::from_secs(2)),
                tokio::time::sleep(Duration::from_secs(1))
            );
            assert_eq!(SystemTime::now(), clock::epoch() + Duration::from_secs(2));
            assert_eq!(
                tokio::time::Instant::from_std(Instant::now()),
                tokio::time::Instant::now()
            );
        });
    assert!(report.is_clean(), "{report}");
    let schedules: u32 = report
        .figure("schedules")
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!(schedules >= 20, "{report}");
}
