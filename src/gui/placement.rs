//! Where a window goes: the kiosk (and the till, when asked) fills the monitor it is on,
//! with or without a window manager. Without one, a fullscreen request goes unanswered, so
//! the window is also moved to the monitor's corner and sized to it through winit.

use slint::winit_030::WinitWindowAccessor;

/// Fills the monitor the window is on (or the first one). Call it once the event loop runs
/// (the winit window exists then): `show` first, then this from a timer.
pub fn fill_monitor(window: &slint::Window) {
    window.set_fullscreen(true);
    let placed = window.with_winit_window(|w| {
        let monitor = w
            .current_monitor()
            .or_else(|| w.primary_monitor())
            .or_else(|| w.available_monitors().next())?;
        w.set_decorations(false);
        w.set_outer_position(monitor.position());
        let _ = w.request_inner_size(monitor.size());
        Some(monitor.size())
    });
    if let Some(Some(size)) = placed {
        window.set_size(slint::PhysicalSize::new(size.width, size.height));
    }
}
