//! Shifts and the cash drawer: float, cash movements, and the count at close.

use crate::money::Fen;

/// The cash that went through a drawer during one shift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CashFlows {
    pub float: Fen,
    /// Cash kept for sales (tendered minus change).
    pub cash_sales: Fen,
    /// Cash handed back for sales voided during the shift.
    pub cash_voided: Fen,
    pub cash_refunds: Fen,
    pub cash_in: Fen,
    pub cash_out: Fen,
}

impl CashFlows {
    /// What the drawer should hold.
    pub fn expected(&self) -> Fen {
        self.float + self.cash_sales - self.cash_voided - self.cash_refunds + self.cash_in
            - self.cash_out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Closing {
    pub expected: Fen,
    pub counted: Fen,
    /// Counted minus expected: negative when cash is missing.
    pub variance: Fen,
}

pub fn close(flows: &CashFlows, counted: Fen) -> Closing {
    let expected = flows.expected();
    Closing {
        expected,
        counted,
        variance: counted - expected,
    }
}

/// Notes and coins counted at close, largest first (yuan: 100, 50, 20, 10, 5, 1, 0.5, 0.1).
pub const DENOMINATIONS: [Fen; 8] = [
    Fen(10_000),
    Fen(5_000),
    Fen(2_000),
    Fen(1_000),
    Fen(500),
    Fen(100),
    Fen(50),
    Fen(10),
];

/// The cash in a denomination count: `counts[i]` pieces of `DENOMINATIONS[i]`.
pub fn count_denominations(counts: &[u32; 8]) -> Fen {
    DENOMINATIONS
        .iter()
        .zip(counts)
        .map(|(d, &n)| d.times(i64::from(n)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_cash_and_variance() {
        let flows = CashFlows {
            float: Fen(20_000),
            cash_sales: Fen(40_000),
            cash_voided: Fen(2_500),
            cash_refunds: Fen(1_000),
            cash_in: Fen(5_000),
            cash_out: Fen(3_000),
        };
        assert_eq!(flows.expected(), Fen(58_500));
        let c = close(&flows, Fen(57_000));
        assert_eq!(c.variance, Fen(-1_500));
    }

    #[test]
    fn denominations_add_up() {
        assert_eq!(count_denominations(&[5, 1, 1, 0, 0, 3, 1, 2]), Fen(57_370));
    }
}
