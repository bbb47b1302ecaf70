//! The real `fairpos` binary opens its real window: under Xvfb (a display of its own), with no
//! subcommand, on an empty data directory. It sets up the demo till, draws the till's first
//! screen (read back from the X server's pixels), takes a volunteer's taps and a wedge
//! scanner's keys, and keeps every sale when it is stopped.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::devices::PtyPair;
use common::scale::FakeScale;
use common::BIN;
use fairpos_hardware::scale::{Protocol, ScaleState};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An X server run for a test: stopped with SIGTERM, so that it removes its lock file and
/// socket (a killed one leaves them, and the displays a later run may take run out).
struct XServer(Child);

impl Drop for XServer {
    fn drop(&mut self) {
        // SAFETY: a plain kill(2) of the child this guard started and still owns.
        unsafe {
            libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

/// Whether a display's lock file names a process that is still running.
fn held(lock: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(lock) else {
        return false;
    };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    text.trim()
        .parse::<libc::pid_t>()
        .is_ok_and(|pid| unsafe { libc::kill(pid, 0) } == 0)
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is missing: run `scripts/setup.sh --test`");
}

/// One window test at a time: each drives a real window by its timing (on a two-core
/// machine, two at once starve each other), and picks the first free display.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Xvfb on the first free display from :50, a 1280×800 screen.
fn xvfb() -> (XServer, String) {
    xvfb_sized("1280x800x24")
}

/// Xvfb with a screen of `size` (`WxHxDEPTH`).
fn xvfb_sized(size: &str) -> (XServer, String) {
    need("Xvfb");
    for n in 50..90 {
        // A lock left by a server that is gone is stale: Xvfb takes the display over.
        if held(Path::new(&format!("/tmp/.X{n}-lock"))) {
            continue;
        }
        let display = format!(":{n}");
        // -noreset: by default the server resets when its last client leaves, which the
        // readiness probe below is; a window opening during that reset finds no server.
        let child = Command::new("Xvfb")
            .args([
                &display,
                "-noreset",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                size,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let child = XServer(child);
        let start = Instant::now();
        let lock = format!("/tmp/.X{n}-lock");
        while start.elapsed() < Duration::from_secs(10) {
            // Ours once its lock names it, ready once its socket takes a connection (the
            // socket's file appears before the server listens on it, and a stale one may
            // still be lying there).
            let ours = std::fs::read_to_string(&lock)
                .is_ok_and(|pid| pid.trim() == child.0.id().to_string());
            let socket = format!("/tmp/.X11-unix/X{n}");
            if ours && std::os::unix::net::UnixStream::connect(&socket).is_ok() {
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

/// [`tap`] in `window`, given the keyboard focus first (the customer display may hold it).
fn tap_in(display: &str, window: &str, px: u32, py: u32) {
    x(display, "xdotool", &["windowfocus", "--sync", window]);
    tap(display, px, py);
}

/// Signs 张伟 (V003) in with the demo's lead PIN on the till in `window` (at the screen's
/// top left, its data in `data`) and opens a shift with no float, one tap at a time: each
/// waits until the till's picture has changed, so that no tap lands on a screen not drawn
/// yet (a loaded machine takes its time), and a tap the till did not answer fails here, by
/// name. Returns once the shift is in the till's database.
fn sign_in_and_open_shift(display: &str, window: &str, data: &Path) {
    let steps = [
        ("张伟", 388, 152),
        ("2", 1016, 499),
        ("4", 863, 368),
        ("6", 1170, 368),
        ("8", 1016, 238),
        ("sign in", 1016, 732),
        ("open shift", 640, 732),
    ];
    for (step, px, py) in steps {
        let before = window_shot(display, window, "till-before-tap");
        tap_in(display, window, px, py);
        let after = shot_once_changed(display, window, "till-after-tap", &before);
        assert!(after != before, "the till did not answer the tap on {step}");
    }
    let db = rusqlite::Connection::open(data.join("till.db")).unwrap();
    let open_shifts = || {
        db.query_row(
            "SELECT COUNT(*) FROM shifts WHERE closed_at IS NULL",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0)
    };
    wait_until(|| open_shifts() > 0);
    assert_eq!(open_shifts(), 1, "no shift open after signing in");
}

#[test]
fn fairpos_alone_opens_the_till_window_on_the_demo_fair() {
    let _turn = turn();
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
    sign_in_and_open_shift(&display, &window, data.path());
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

    // Wait until the sale is in the till's database (read beside the running till, as WAL
    // lets): a loaded machine takes its time over the taps.
    let db = rusqlite::Connection::open(data.path().join("till.db")).unwrap();
    wait_until(|| {
        db.query_row("SELECT COUNT(*) FROM sales", [], |r| r.get::<_, i64>(0))
            .is_ok_and(|n| n > 0)
    });
    drop(db);

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

/// Starts `fairpos` with `args` on `display`, and waits for a window named `name`.
fn open(display: &str, data: &Path, args: &[&str], name: &str) -> (Killed, String) {
    let app = Command::new(BIN)
        .arg("--data")
        .arg(data)
        .args(args)
        .env("DISPLAY", display)
        .env("SLINT_BACKEND", "winit-software")
        .env("FAIRPOS_LANG", "zh")
        .env_remove("FAIRPOS_WINDOW")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut app = Killed(app);
    let start = Instant::now();
    loop {
        let found = x(display, "xdotool", &["search", "--name", name]);
        if let Some(window) = found.lines().next() {
            return (app, window.to_string());
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {name} window"
        );
        if let Some(status) = app.0.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(app.0.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("fairpos ended ({status}) before opening {name}: {err}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `(x, y, width, height)` of a window, as the X server has it.
fn geometry(display: &str, window: &str) -> (i32, i32, u32, u32) {
    let text = x(
        display,
        "xdotool",
        &["getwindowgeometry", "--shell", window],
    );
    let get = |key: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(-1)
    };
    (
        get("X") as i32,
        get("Y") as i32,
        get("WIDTH") as u32,
        get("HEIGHT") as u32,
    )
}

/// A picture of one window (`import -window`), as PNG bytes; kept in `FAIRPOS_SCREENSHOTS`.
fn window_shot(display: &str, window: &str, name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.png"));
    x(
        display,
        "import",
        &["-window", window, path.to_str().unwrap()],
    );
    if let Ok(keep) = std::env::var("FAIRPOS_SCREENSHOTS") {
        let _ = std::fs::copy(&path, Path::new(&keep).join(format!("{name}.png")));
    }
    std::fs::read(&path).unwrap()
}

/// Waits until `done` holds or 15 s pass (a loaded machine takes its time over taps and
/// redraws); the caller asserts what it waited for.
fn wait_until(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The window's picture once it differs from `before` (or after 15 s); the last picture
/// either way.
fn shot_once_changed(display: &str, window: &str, name: &str, before: &[u8]) -> Vec<u8> {
    let mut shot = Vec::new();
    wait_until(|| {
        shot = window_shot(display, window, name);
        shot != before
    });
    shot
}

#[test]
fn the_kiosk_fills_a_screen_with_no_window_manager() {
    let _turn = turn();
    need("xdotool");
    let (_xvfb, display) = xvfb();
    let data = tempfile::tempdir().unwrap();
    let (_app, window) = open(&display, data.path(), &["kiosk"], "^fairpos kiosk$");
    // The fullscreen request goes unanswered without a window manager: the kiosk places
    // itself on the whole 1280×800 screen all the same.
    let start = Instant::now();
    loop {
        let g = geometry(&display, &window);
        if g == (0, 0, 1280, 800) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the kiosk window is at {g:?}, not on the whole 1280×800 screen"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Its pixels at the screen's far corner are the kiosk's, not the empty root's.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pixel(&display, 1270, 10), "#8A1C1C");
}

#[test]
fn the_customer_display_opens_beside_the_till_and_follows_its_cart() {
    let _turn = turn();
    need("xdotool");
    need("import");
    // Room for both windows side by side: the till's 1280×800 and the shopper's 800×480.
    let (_xvfb, display) = xvfb_sized("2100x800x24");
    let data = tempfile::tempdir().unwrap();
    // A Mettler Toledo 8217 counter scale on a serial pty, with 1.25 kg of kiwis settled on it.
    let pty = PtyPair::new(data.path(), "scale");
    let scale = FakeScale::on_pty(&pty.b, Protocol::Toledo8217);
    scale.set(1250, ScaleState::Stable);
    std::fs::write(
        data.path().join("fairpos.toml"),
        format!(
            "[scale]\nkind = \"serial\"\npath = \"{}\"\n",
            pty.a.display()
        ),
    )
    .unwrap();
    let (_app, till) = open(
        &display,
        data.path(),
        &["till", "--customer-display"],
        "^fairpos$",
    );
    let start = Instant::now();
    let customer = loop {
        let found = x(
            &display,
            "xdotool",
            &["search", "--name", "customer display"],
        );
        if let Some(w) = found.lines().next() {
            break w.to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no customer display"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(2));
    x(&display, "xdotool", &["windowmove", &customer, "1290", "0"]);
    std::thread::sleep(Duration::from_millis(500));
    let (_, _, w, h) = geometry(&display, &customer);
    assert_eq!((w, h), (800, 480), "laid out for 800×480 by default");
    let welcome = window_shot(&display, &customer, "customer-display-welcome-zh");

    // A volunteer signs in and a wedge scanner scans: the shopper's screen changes.
    x(&display, "xdotool", &["windowmove", &till, "0", "0"]);
    std::thread::sleep(Duration::from_millis(500));
    sign_in_and_open_shift(&display, &till, data.path());
    x(&display, "xdotool", &["windowfocus", "--sync", &till]);
    x(
        &display,
        "xdotool",
        &["type", "--delay", "2", "6935780100128"],
    );
    x(&display, "xdotool", &["key", "Return"]);
    let cart = shot_once_changed(
        &display,
        &customer,
        "customer-display-cart-one-zh",
        &welcome,
    );
    assert!(
        welcome != cart,
        "the customer display did not follow the cart"
    );

    // 猕猴桃 (sold by the 斤) tapped in the grid: the weight pad reads the scale.
    tap_in(&display, &till, 695, 380);
    let asked_weight = || scale.asked().iter().any(|q| q.as_slice() == b"W");
    wait_until(asked_weight);
    std::thread::sleep(Duration::from_secs(1));
    window_shot(&display, &till, "till-scale-zh");
    assert!(
        asked_weight(),
        "the till never asked the scale for its weight"
    );
    tap_in(&display, &till, WEIGH_ADD.0, WEIGH_ADD.1);
    let weighed = shot_once_changed(&display, &customer, "customer-display-cart-zh", &cart);
    assert!(
        cart != weighed,
        "the weighed line did not reach the shopper"
    );
    window_shot(&display, &till, "till-with-customer-display-zh");

    // Paying: the shopper sees the amount beside the stall's QR code.
    tap_in(&display, &till, 1099, 690);
    let paying = shot_once_changed(&display, &customer, "customer-display-pay-zh", &weighed);
    assert!(paying != weighed, "the shopper never saw the amount to pay");
    scale.stop();
}

/// The weight pad's "add" button in the 1280×800 till window.
const WEIGH_ADD: (u32, u32) = (734, 696);
