use super::*;

/// The calls named `name` in `query`, in source order.
fn calls(query: &str, name: &str) -> Vec<Call> {
    let root = super::super::parse(query).unwrap();
    let mut found = Vec::new();
    walk(&root, &mut |expr| {
        if let Expr::Call(c) = expr
            && c.func.name == name
        {
            found.push(c.clone());
        }
    });
    found
}

fn aggregates(query: &str) -> Vec<AggregateExpr> {
    let root = super::super::parse(query).unwrap();
    let mut found = Vec::new();
    walk(&root, &mut |expr| {
        if let Expr::Aggregate(a) = expr {
            found.push(a.clone());
        }
    });
    found
}

/// `line:col` of each argument of the `k`-th call of `name`.
fn argument_positions(query: &str, name: &str, k: usize) -> Vec<String> {
    let positions = QueryPositions::new(query);
    let call = &calls(query, name)[k];
    positions.call_arguments(call).unwrap().into_iter().map(|o| positions.line_column(o)).collect()
}

#[test]
fn arguments_of_histogram_functions_match_prometheus() {
    assert_eq!(
        argument_positions("histogram_quantile(0.8, series)", "histogram_quantile", 0),
        ["1:20", "1:25"]
    );
    assert_eq!(
        argument_positions("histogram_quantiles(series, \"q\", 0.1, 0.2)", "histogram_quantiles", 0),
        ["1:21", "1:29", "1:34", "1:39"]
    );
    assert_eq!(
        argument_positions("histogram_fraction(-Inf, 1, series)", "histogram_fraction", 0),
        ["1:20", "1:26", "1:29"]
    );
}

#[test]
fn nested_brackets_do_not_split_arguments() {
    let query = "label_join(foo{a=\"1\", b=\"2\"} , \"dst\", \",\", \"a\", \"b\")";
    assert_eq!(argument_positions(query, "label_join", 0), ["1:12", "1:32", "1:39", "1:44", "1:49"]);
    let query = "rate(sum by (a, b) (x)[5m:]) + rate(( y )[1m:])";
    assert_eq!(argument_positions(query, "rate", 0), ["1:6"]);
    assert_eq!(argument_positions(query, "rate", 1), ["1:37"]);
}

#[test]
fn the_kth_call_is_found_and_identical_names_elsewhere_are_skipped() {
    let query = "histogram_quantile(0.5, a) + on (histogram_quantile) histogram_quantile(0.9,\n  b{histogram_quantile=\"x\"})";
    assert_eq!(argument_positions(query, "histogram_quantile", 1), ["1:73", "2:3"]);
}

#[test]
fn columns_count_bytes_as_prometheus_does() {
    let query = "label_replace({a=\"é\"}, \"b\", \"\", \"a\", \"(.*)\")";
    assert_eq!(argument_positions(query, "label_replace", 0)[1], "1:25");
    assert_eq!(line_column("ab\ncd", 4), "2:2");
    assert_eq!(line_column("", 0), "1:1");
}

#[test]
fn aggregation_parameters_in_both_grouping_placements() {
    for (query, expected) in [
        ("quantile(NaN, x)", "1:10"),
        ("quantile by (a, b) ( NaN, x)", "1:22"),
        ("sum(x) + quantile without (a) (0.5, x)", "1:32"),
        ("sum(x) + quantile (0.5, x) by (b)", "1:20"),
        ("quantile(0.1, x) + quantile(\n0.9, y)", "2:1"),
    ] {
        let positions = QueryPositions::new(query);
        let aggregate = aggregates(query).into_iter().rfind(|a| a.param.is_some()).unwrap();
        let offset = positions.aggregate_param(&aggregate).unwrap();
        assert_eq!(positions.line_column(offset), expected, "{query}");
    }
}

#[test]
fn call_start_points_at_the_name() {
    let query = "x + sort(y)";
    let positions = QueryPositions::new(query);
    let call = &calls(query, "sort")[0];
    assert_eq!(positions.line_column(positions.call_start(call).unwrap()), "1:5");
}

#[test]
fn string_literals_unquote_as_go_does() {
    assert_eq!(go_unquote(r#""\xff""#), Some(vec![0xff]));
    assert_eq!(go_unquote(r#""\377""#), Some(vec![0xff]));
    assert_eq!(go_unquote(r#""\xc3\xbf""#), Some("ÿ".as_bytes().to_vec()));
    assert_eq!(go_unquote(r#""\u00ff""#), Some("ÿ".as_bytes().to_vec()));
    assert_eq!(go_unquote(r#"'a\'b\n'"#), Some(b"a'b\n".to_vec()));
    assert_eq!(go_unquote(r"`\xff`"), Some(br"\xff".to_vec()));
    assert_eq!(go_unquote(r#""\'""#), None);
    assert_eq!(go_unquote(r#""\400""#), None);
    assert_eq!(go_unquote(r#""\x+f""#), None);

    let query = r#"label_replace(x, "\xff", "", "src", "(.*)")"#;
    let positions = QueryPositions::new(query);
    let call = &calls(query, "label_replace")[0];
    let arguments = positions.call_arguments(call).unwrap();
    assert_eq!(positions.string_literal_bytes(arguments[1]), Some(vec![0xff]));
    assert_eq!(positions.string_literal_bytes(arguments[0]), None);
}
