//! Pearson's chi-square goodness-of-fit test for the spread histogram: statistic and p-value
//! (the upper tail of the chi-square distribution, through the regularized upper incomplete
//! gamma function, Numerical Recipes' series / continued fraction split).

/// The chi-square statistic of `observed` counts against expected `shares` (which sum to 1),
/// its degrees of freedom and p-value. Categories with a zero share are left out (an observation
/// there makes the p-value 0). `None` when fewer than two categories have a share or nothing was
/// observed.
pub fn chi_square(observed: &[u64], shares: &[f64]) -> Option<(f64, usize, f64)> {
    let n: u64 = observed.iter().sum();
    let cats: Vec<(u64, f64)> = observed
        .iter()
        .zip(shares)
        .filter(|(_, s)| **s > 0.0)
        .map(|(o, s)| (*o, *s))
        .collect();
    if n == 0 || cats.len() < 2 {
        return None;
    }
    let impossible = observed
        .iter()
        .zip(shares)
        .any(|(o, s)| *s <= 0.0 && *o > 0);
    let stat: f64 = cats
        .iter()
        .map(|(o, s)| {
            let e = s * n as f64;
            (*o as f64 - e).powi(2) / e
        })
        .sum();
    let df = cats.len() - 1;
    let p = if impossible {
        0.0
    } else {
        gamma_q(df as f64 / 2.0, stat / 2.0)
    };
    Some((stat, df, p))
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos approximation (g = 7, n = 9).
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized upper incomplete gamma function Q(a, x).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 {
        // Series for P, then Q = 1 - P.
        let mut sum = 1.0 / a;
        let mut del = sum;
        let mut ap = a;
        for _ in 0..500 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        let p = sum * (-x + a * x.ln() - ln_gamma(a)).exp();
        (1.0 - p).clamp(0.0, 1.0)
    } else {
        // Continued fraction (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..500 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        ((-x + a * x.ln() - ln_gamma(a)).exp() * h).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn p_values_match_the_chi_square_tables() {
        // Critical values at the 5% and 1% levels (any statistics table).
        for (x, df, p) in [
            (3.841, 1, 0.05),
            (5.991, 2, 0.05),
            (11.070, 5, 0.05),
            (6.635, 1, 0.01),
            (9.210, 2, 0.01),
            (18.307, 10, 0.05),
        ] {
            let q = gamma_q(df as f64 / 2.0, x / 2.0);
            assert!(close(q, p, 2e-4), "df {df} x {x}: {q} vs {p}");
        }
        assert!(close(gamma_q(1.0, 0.0), 1.0, 1e-12));
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-10));
    }

    #[test]
    fn spread_test_accepts_a_fair_split_and_rejects_a_skewed_one() {
        let third = 1.0 / 3.0;
        let (stat, df, p) = chi_square(&[100, 100, 100], &[third, third, third]).unwrap();
        assert!(close(stat, 0.0, 1e-9));
        assert_eq!(df, 2);
        assert!(close(p, 1.0, 1e-9));
        // 90 / 105 / 105 of 300: statistic 1.5, p = exp(-0.75) for df 2.
        let (stat, _, p) = chi_square(&[90, 105, 105], &[third, third, third]).unwrap();
        assert!(close(stat, 1.5, 1e-9));
        assert!(close(p, (-0.75f64).exp(), 1e-9));
        let (_, _, p) = chi_square(&[300, 0, 0], &[third, third, third]).unwrap();
        assert!(p < 1e-12);
        // A hit on an endpoint the rules never pick is impossible.
        let (_, _, p) = chi_square(&[5, 5, 1], &[0.5, 0.5, 0.0]).unwrap();
        assert_eq!(p, 0.0);
        assert!(chi_square(&[0, 0], &[0.5, 0.5]).is_none());
        assert!(chi_square(&[10], &[1.0]).is_none());
    }
}
