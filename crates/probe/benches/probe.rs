//! Cost of one collection (sample + update + encode) of a process with sockets, against the
//! cost of walking `/proc/net/tcp{,6}` once, which is what psutil-style connection counting
//! does and this crate avoids. Run by hand: `cargo bench -p probe --bench probe`.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use probe::{Exporter, ProcessProbe};

fn collection(c: &mut Criterion) {
    // This process with a listener and a few connections, like a serving target.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let clients: Vec<_> = (0..4)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    let accepted: Vec<_> = (0..4).map(|_| listener.accept().unwrap().0).collect();

    let hierarchy = cgroup::Hierarchy::detect().ok();
    let pid = std::process::id() as i32;
    let mut probe = ProcessProbe::open(pid, hierarchy.as_ref()).unwrap();
    let labels = HashMap::from([("size".to_string(), "small".to_string())]);
    let exporter = Exporter::new(labels).unwrap();
    exporter.set_info(pid, &probe.name().unwrap(), &probe.cmdline().unwrap());

    let shape = probe.sample().unwrap();
    eprintln!(
        "probed process: {} fds, {} sockets, {} threads",
        shape.open_fds, shape.connections, shape.num_threads
    );

    let mut group = c.benchmark_group("probe");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("sample_update_encode_self_with_sockets", |b| {
        b.iter(|| {
            let sample = probe.sample().unwrap();
            exporter.update(&sample);
            black_box(exporter.encode().unwrap())
        })
    });
    group.bench_function("sample_only_with_cgroup", |b| {
        b.iter(|| black_box(probe.sample().unwrap()))
    });
    let mut without_cgroup = ProcessProbe::open(pid, None).unwrap();
    group.bench_function("sample_only_without_cgroup", |b| {
        b.iter(|| black_box(without_cgroup.sample().unwrap()))
    });
    let sample = probe.sample().unwrap();
    group.bench_function("update_encode", |b| {
        b.iter(|| {
            exporter.update(&sample);
            black_box(exporter.encode().unwrap())
        })
    });
    group.bench_function("walk_proc_net_tcp_and_tcp6_once", |b| {
        b.iter(|| {
            let v4 = std::fs::read("/proc/net/tcp").unwrap();
            let v6 = std::fs::read("/proc/net/tcp6").unwrap();
            black_box(v4.len() + v6.len())
        })
    });
    // The fixed part: a child with only stdin/stdout/stderr open, in its cgroups.
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let mut child_probe = ProcessProbe::open(child.id() as i32, hierarchy.as_ref()).unwrap();
    group.bench_function("sample_only_child_with_3_fds_with_cgroup", |b| {
        b.iter(|| black_box(child_probe.sample().unwrap()))
    });
    let _ = child.kill();
    let _ = child.wait();
    group.finish();
    drop((clients, accepted, listener));
}

criterion_group!(benches, collection);
criterion_main!(benches);
