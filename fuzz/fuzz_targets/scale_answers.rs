//! What a counter scale answers over its serial port, in either protocol: any bytes (line
//! noise, a wrong baud rate, another scale's dialect). Never a panic; an SMA answer that
//! reads, written back as the simulated scale writes it, reads the same.
#![no_main]

use fairpos_hardware::scale::{sma, toledo, ScaleState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for unit in ["kg", "jin", "g", "lb"] {
        let _ = toledo::parse(data, unit);
    }
    let Ok(reading) = sma::parse(data) else {
        return;
    };
    // The simulated scale writes kilograms in SMA's 10-character field.
    let fits = reading.grams.abs() <= 99_999_999;
    if reading.unit == "kg" && fits && !matches!(reading.state, ScaleState::Fault(_)) {
        let again = sma::parse(&sma::answer(&reading)).expect("a written answer reads");
        assert_eq!((again.grams, &again.state), (reading.grams, &reading.state));
    }
});
