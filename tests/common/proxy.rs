//! A load balancer or reverse proxy the tests start in front of headquarters (HAProxy,
//! nginx): a free loopback port for it, the program found where Debian puts it, the process
//! waited for until it listens and stopped when dropped; and what clients at several
//! loopback addresses do through it.

use std::fs::File;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::api::Api;
use super::hq::Hq;

/// A running proxy, stopped when dropped.
pub struct Proxy {
    child: Child,
    pub at: SocketAddr,
}

impl Proxy {
    /// A free loopback address for a proxy to listen on.
    pub fn free_address() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
    }

    /// `program` (tried in /usr/sbin first, which only root's PATH has), which
    /// `scripts/setup.sh --test` installs.
    pub fn program(program: &str) -> String {
        [format!("/usr/sbin/{program}"), program.to_string()]
            .into_iter()
            .find(|p| Command::new(p).arg("-v").output().is_ok())
            .unwrap_or_else(|| panic!("{program} is missing: scripts/setup.sh --test installs it"))
    }

    /// Runs `command` in the foreground, its stderr into `log`, until it listens at `at`.
    pub fn start(mut command: Command, at: SocketAddr, log: &Path) -> Proxy {
        let child = command
            .stdout(Stdio::null())
            .stderr(File::create(log).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(at).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{command:?} did not listen on {at}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Proxy { child, at }
    }

    /// HAProxy (Debian's `haproxy`) in the foreground, this process its child, with the
    /// configuration `config` (written into `dir`), once it listens at `at`.
    pub fn haproxy(dir: &Path, at: SocketAddr, config: &str) -> Proxy {
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, config).unwrap();
        let mut command = Command::new(Proxy::program("haproxy"));
        command.arg("-db").arg("-f").arg(&file);
        Proxy::start(command, at, &dir.join("haproxy.log"))
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.at)
    }
}

impl Drop for Proxy {
    /// Asked to stop (SIGTERM), so that a proxy with worker processes (nginx) stops them
    /// too, which SIGKILL to its master would leave running; killed if it has not within
    /// 10 s.
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let asked = Instant::now();
        while asked.elapsed() < Duration::from_secs(10) {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address for a client to play a host of its own.
pub fn from(address: &str) -> Option<IpAddr> {
    Some(address.parse().unwrap())
}

/// What a login with `password` is answered, through `api`.
pub fn login(api: &Api, password: &str) -> u16 {
    api.post("/api/v1/login", None, &json!({ "password": password }))
        .0
}

/// `hq serve FLAG NAME`, a list of proxies naming `name`, which is no address: refused at
/// start with exit 2, in one line that says so.
pub fn a_list_naming_no_address_is_refused(flag: &str, name: &str) {
    let hq = Hq::demo();
    let (code, stderr) = hq.serve_refused(&[flag, name]);
    assert_eq!(code, Some(2), "{stderr}");
    let said = format!("{flag}: \"{name}\" is neither an address nor a network");
    assert!(stderr.contains(&said), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
