//! The real `fairpos` binary opens its real window: under Xvfb (a display of its own), with no
//! subcommand, on an empty data directory. It sets up the demo till, draws the till's first
//! screen (read back from the X server's pixels), takes a volunteer's taps and a wedge
//! scanner's keys, and keeps every sale when it is stopped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fairpos");

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is missing: run `scripts/setup.sh --test`");
}

/// Xvfb on the first free display from :50.
fn xvfb() -> (Killed, String) {
    need("Xvfb");
    for n in 50..90 {
        if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            || Path::new(&format!("/tmp/.X{n}-lock")).exists()
        {
            continue;
        }
        let display = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([&display, "-nolisten", "tcp", "-screen", "0", "1280x800x24"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let child = Killed(child);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                return (child, display);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("no display for Xvfb");
}

fn x(display: &str, tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .env("DISPLAY", display)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The colour of the screen's pixel at `(x, y)`, as `#RRGGBB`.
fn pixel(display: &str, px: u32, py: u32) -> String {
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("shot.png");
    x(
        display,
        "import",
        &["-window", "root", shot.to_str().unwrap()],
    );
    let text = x(
        display,
        "convert",
        &[
            shot.to_str().unwrap(),
            "-crop",
            &format!("1x1+{px}+{py}"),
            "-format",
            "#%[hex:p{0,0}]",
            "info:-",
        ],
    );
    text.chars().take(7).collect::<String>().to_uppercase()
}

fn tap(display: &str, px: u32, py: u32) {
    x(
        display,
        "xdotool",
        &["mousemove", &px.to_string(), &py.to_string(), "click", "1"],
    );
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn fairpos_alone_opens_the_till_window_on_the_demo_fair() {
    need("xdotool");
    need("import");
    let (_xvfb, display) = xvfb();
    let data = tempfile::tempdir().unwrap();
    let app = Command::new(BIN)
        .arg("--data")
        .arg(data.path())
        .env("DISPLAY", &display)
        .env("SLINT_BACKEND", "winit-software")
        .env("FAIRPOS_WINDOW", "1280x800")
        .env("FAIRPOS_LANG", "zh")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut app = Killed(app);

    // The window appears, titled, and the till is set up on first start.
    let start = Instant::now();
    let window = loop {
        let found = x(&display, "xdotool", &["search", "--name", "^fairpos$"]);
        if !found.is_empty() {
            break found.lines().next().unwrap().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no window within 30 s"
        );
        if let Some(status) = app.0.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(app.0.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("fairpos ended ({status}) before opening a window: {err}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(2));
    assert!(data.path().join("till.db").exists());

    // Its pixels: the status bar in the fair's red, the page behind the cards.
    assert_eq!(pixel(&display, 600, 20), "#8A1C1C");
    assert_eq!(pixel(&display, 10, 790), "#F4F1EE");

    // A volunteer signs in with the demo's lead PIN, opens a shift with no float, and a
    // wedge scanner scans; the sale is paid in exact cash.
    tap(&display, 388, 152); // 张伟 V003
    for (px, py) in [(1016, 499), (863, 368), (1170, 368), (1016, 238)] {
        tap(&display, px, py); // 2 4 6 8
    }
    tap(&display, 1016, 732); // sign in
    tap(&display, 640, 732); // open shift (float 0)
    x(&display, "xdotool", &["windowfocus", "--sync", &window]);
    x(
        &display,
        "xdotool",
        &["type", "--delay", "2", "6935780100128"],
    );
    x(&display, "xdotool", &["key", "Return"]);
    std::thread::sleep(Duration::from_millis(500));
    tap(&display, 1099, 690); // pay
    tap(&display, 1175, 247); // exact cash
    tap(&display, 1006, 722); // complete sale
    std::thread::sleep(Duration::from_secs(1));

    // Stopped like a power cut, it has kept the sale.
    drop(app);
    let out = Command::new(BIN)
        .arg("--data")
        .arg(data.path())
        .args(["sales", "--json"])
        .output()
        .unwrap();
    let sales: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sales[0]["sale"], "T01-000001", "{sales}");
    assert_eq!(sales[0]["total_fen"], 12800);
    assert_eq!(sales[0]["seller"], "V003");
}
