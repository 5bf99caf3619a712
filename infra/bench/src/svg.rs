//! The throughput chart: deliveries per second against requests in flight, handler and bare
//! reqwest loop, as a self-contained SVG.

use crate::delivery::Level;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// The chart for these levels (x is categorical: the levels in order).
pub fn throughput(levels: &[Level]) -> String {
    let max = levels.iter().map(|l| l.handler.max(l.bare)).fold(1.0_f64, f64::max);
    let step = nice_step(max / 5.0);
    let top = (max / step).ceil() * step;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / levels.len().max(1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / top);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Deliveries per second against requests in flight (loopback receiver)</text>\n",
        WIDTH / 2.0
    );
    let mut tick = 0.0;
    while tick <= top + step / 2.0 {
        svg.push_str(&format!(
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick:.0}</text>\n",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(tick) + 4.0,
            y = y(tick)
        ));
        tick += step;
    }
    for (i, level) in levels.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            x(i),
            HEIGHT - BOTTOM + 18.0,
            level.in_flight
        ));
    }
    svg.push_str(&format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">requests in flight</text>\n",
        LEFT + plot_w / 2.0,
        HEIGHT - 10.0
    ));
    for (name, colour, value) in [
        ("deliver handler", "#1f77b4", (|l: &Level| l.handler) as fn(&Level) -> f64),
        ("bare reqwest loop", "#ff7f0e", |l: &Level| l.bare),
    ] {
        let points: Vec<String> =
            levels.iter().enumerate().map(|(i, l)| format!("{:.1},{:.1}", x(i), y(value(l)))).collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>\n",
            points.join(" ")
        ));
        for (i, l) in levels.iter().enumerate() {
            svg.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>\n",
                x(i),
                y(value(l))
            ));
        }
        let legend_y = if name.starts_with("deliver") { TOP + 10.0 } else { TOP + 28.0 };
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"4\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{name}</text>\n",
            LEFT + 10.0,
            legend_y - 4.0,
            LEFT + 28.0,
            legend_y
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|step| *step >= raw).unwrap_or(10.0 * power)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_one_svg_with_a_point_per_level_and_series() {
        let levels = [
            Level { in_flight: 1, handler: 900.0, bare: 1_200.0 },
            Level { in_flight: 10, handler: 4_000.0, bare: 5_000.0 },
        ];
        let svg = throughput(&levels);
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 4);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.3), 1.0);
        assert_eq!(nice_step(1_300.0), 2_000.0);
        assert_eq!(nice_step(4_100.0), 5_000.0);
    }
}
