//! Compiles the Slint UI (`ui/app.slint`) with its translations bundled into the binary, when
//! the touchscreen is built (the `gui` feature).

fn main() {
    #[cfg(feature = "gui")]
    compile_ui();
}

#[cfg(feature = "gui")]
fn compile_ui() {
    // Element lookup by accessible label (the UI tests) needs the compiler's debug info.
    let debug_info = std::env::var("PROFILE").as_deref() != Ok("release");
    let config = slint_build::CompilerConfiguration::new()
        .with_debug_info(debug_info)
        .with_bundled_translations("ui/translations")
        .with_default_translation_context(slint_build::DefaultTranslationContext::None);
    if let Err(e) = slint_build::compile_with_config("ui/app.slint", config) {
        eprintln!("the Slint UI does not compile: {e}");
        std::process::exit(1);
    }
}
