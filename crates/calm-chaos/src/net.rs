//! The network: one namespace per node, each with a veth pair whose other end is on the bridge
//! `calmbr0` in the root namespace, addresses in 10.77.0.0/24. Nothing here routes anywhere else:
//! the namespaces have no default route, and the harness only sends to these addresses.

use anyhow::{Context as _, bail};
use std::path::Path;
use std::process::{Command, Stdio};

/// The bridge.
pub const BRIDGE: &str = "calmbr0";
/// The bridge's address (the harness's, in the root namespace).
const BRIDGE_ADDR: &str = "10.77.0.1/24";
/// Namespaces are named `calm-chaos-n1`, ...
const NS_PREFIX: &str = "calm-chaos-";
/// Host ends of the veth pairs are named `calmv1`, ...
const VETH_PREFIX: &str = "calmv";

/// The namespace of node `i` (0-based).
pub fn ns_name(i: usize) -> String {
    format!("{NS_PREFIX}n{}", i + 1)
}

/// The address of node `i` (0-based).
pub fn node_ip(i: usize) -> String {
    format!("10.77.0.{}", 11 + i)
}

/// Runs `ip ARGS`; an error carries its standard error.
pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run `ip`")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether namespaces can be made here; the reason why not otherwise.
pub fn probe() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("network namespaces need Linux".into());
    }
    match Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => {}
        _ => return Err("`ip` (iproute2) not found; `apt-get install -y iproute2`".into()),
    }
    let probe = format!("{NS_PREFIX}probe");
    let _ = ip(&["netns", "del", &probe]);
    let made = ip(&["netns", "add", &probe]);
    let _ = ip(&["netns", "del", &probe]);
    made.map_err(|e| format!("cannot create a network namespace (root is needed): {e:#}"))?;
    let mount = Command::new("mount")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(mount, Ok(s) if s.success()) {
        return Err("`mount` not found".into());
    }
    Ok(())
}

/// Where a run records its process id.
const PID_FILE: &str = "/run/calm-chaos.pid";

/// Claims the machine for this run: fails if another `calm-chaos` run is alive (two runs would
/// tear down each other's namespaces). The claim is released by [`release`].
pub fn claim() -> Result<(), String> {
    if let Ok(text) = std::fs::read_to_string(PID_FILE)
        && let Ok(pid) = text.trim().parse::<u32>()
        && pid != std::process::id()
    {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "calm-chaos" {
            return Err(format!(
                "another calm-chaos run (process {pid}) is in progress ({PID_FILE})"
            ));
        }
    }
    std::fs::write(PID_FILE, std::process::id().to_string())
        .map_err(|e| format!("cannot write {PID_FILE}: {e}"))
}

/// Releases the claim of [`claim`].
pub fn release() {
    if std::fs::read_to_string(PID_FILE).is_ok_and(|t| t.trim() == std::process::id().to_string()) {
        let _ = std::fs::remove_file(PID_FILE);
    }
}

/// Removes what a previous run left behind: the processes in its namespaces, the namespaces,
/// the bridge and veths, and mounts under `work`.
pub fn cleanup_leftovers(work: &Path) {
    for line in ip_output(&["netns", "list"]).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        if !ns.starts_with(NS_PREFIX) {
            continue;
        }
        let pids: Vec<i32> = ip_output(&["netns", "pids", ns])
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        for &pid in &pids {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        // Wait (up to 5 s) until they are gone, so that none still writes to the work directory.
        for _ in 0..50 {
            if pids
                .iter()
                .all(|p| !Path::new(&format!("/proc/{p}")).exists())
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("chaos: removing the namespace {ns}, left by an earlier run");
        let _ = ip(&["netns", "del", ns]);
    }
    for line in ip_output(&["-o", "link", "show"]).lines() {
        // "7: calmv1@if6: <...>"
        let Some(name) = line.split(": ").nth(1) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        if name == BRIDGE || name.starts_with(VETH_PREFIX) {
            eprintln!("chaos: removing the link {name}, left by an earlier run");
            let _ = ip(&["link", "del", name]);
        }
    }
    unmount_under(work);
}

/// Unmounts every mount point under `dir`.
pub fn unmount_under(dir: &Path) {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return;
    };
    let dir = dir.to_string_lossy().into_owned();
    for line in mounts.lines().rev() {
        let Some(point) = line.split_whitespace().nth(1) else {
            continue;
        };
        if point == dir || point.starts_with(&format!("{dir}/")) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(point)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The namespaces and the bridge, removed when dropped.
pub struct Net {
    nodes: usize,
}

impl Net {
    /// Makes the bridge and one namespace per node.
    pub fn create(nodes: usize) -> anyhow::Result<Net> {
        // Owned from here on, so that a failure half-way is cleaned up.
        let net = Net { nodes };
        ip(&["link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["addr", "add", BRIDGE_ADDR, "dev", BRIDGE])?;
        ip(&["link", "set", BRIDGE, "up"])?;
        for i in 0..nodes {
            let ns = ns_name(i);
            let veth = format!("{VETH_PREFIX}{}", i + 1);
            let addr = format!("{}/24", node_ip(i));
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", BRIDGE, "up"])?;
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// Sets node `i`'s link up or down (inside its namespace).
    pub fn set_link(&self, i: usize, up: bool) -> anyhow::Result<()> {
        ip(&[
            "-n",
            &ns_name(i),
            "link",
            "set",
            "eth0",
            if up { "up" } else { "down" },
        ])
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for i in 0..self.nodes {
            // Deleting the namespace deletes its veth pair.
            let _ = ip(&["netns", "del", &ns_name(i)]);
        }
        let _ = ip(&["link", "del", BRIDGE]);
    }
}
