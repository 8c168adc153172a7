"""The person page's server-drawn charts (`web/charts.py`): points inside the plot, round
axis labels, oldest first, and nothing drawn when there is nothing to draw."""

from __future__ import annotations

import datetime as dt

from houseofcare.web.charts import line_chart

D = dt.date


def test_no_readings_no_chart() -> None:
    assert line_chart({}) is None
    assert line_chart({"HbA1c": []}) is None


def test_points_lie_inside_the_plot_oldest_left_highest_top() -> None:
    chart = line_chart(
        {
            "Systolic": [(D(2026, 3, 5), 131.0), (D(2021, 10, 11), 142.0)],
            "Diastolic": [(D(2021, 10, 11), 81.0), (D(2026, 3, 5), 78.0)],
        }
    )
    assert chart is not None
    systolic, diastolic = chart.lines
    assert [p.date for p in systolic.points] == [D(2021, 10, 11), D(2026, 3, 5)]
    for point in (*systolic.points, *diastolic.points):
        assert chart.left <= point.x <= chart.right
        assert chart.top <= point.y <= chart.bottom
    assert systolic.points[0].x == chart.left and systolic.points[1].x == chart.right
    # SVG y grows downwards: the higher reading is nearer the top
    assert systolic.points[0].y < diastolic.points[0].y
    assert systolic.polyline.count(",") == 2
    assert (systolic.style, diastolic.style) == (1, 2)
    labels = [t.label for t in chart.y_ticks]
    assert labels == ["60", "80", "100", "120", "140", "160"]
    assert [t.label for t in chart.x_ticks] == ["Oct 2021", "Mar 2026"]


def test_one_reading_is_centred_with_round_labels() -> None:
    chart = line_chart({"HbA1c": [(D(2022, 9, 1), 58.47)]})
    assert chart is not None
    (point,) = chart.lines[0].points
    assert point.x == (chart.left + chart.right) / 2
    assert chart.top < point.y < chart.bottom
    assert [t.label for t in chart.y_ticks] == ["50", "55", "60", "65"]
    assert [t.label for t in chart.x_ticks] == ["Sep 2022"]
