//! Table tests in the spirit of Go's `text/template` `exec_test.go`/`parse_test.go` and
//! Prometheus's `template/template_test.go` (own cases; expected texts are Go's behaviour).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::prometheus::{
    AlertTemplateData, QuerySample, TemplateQuerier, expand_alert_template, expand_alert_template_or_error,
    parse_check, prometheus_funcs,
};
use super::*;

fn data() -> Value {
    let mut m = BTreeMap::new();
    m.insert("a".to_string(), Value::Int(1));
    m.insert("s".to_string(), Value::from("str"));
    m.insert("f".to_string(), Value::Float(1.5));
    m.insert("t".to_string(), Value::Bool(true));
    m.insert("z".to_string(), Value::Int(0));
    m.insert("empty".to_string(), Value::List(vec![]));
    m.insert(
        "l".to_string(),
        Value::List(["a", "b", "c", "d", "e"].iter().map(|s| Value::from(*s)).collect()),
    );
    let mut inner = BTreeMap::new();
    inner.insert("b".to_string(), Value::Int(2));
    inner.insert("a".to_string(), Value::from("x"));
    m.insert("m".to_string(), Value::Map(inner));
    let mut labels = BTreeMap::new();
    labels.insert("job".to_string(), "node".to_string());
    labels.insert("instance".to_string(), "host:9100".to_string());
    m.insert("labels".to_string(), Value::StringMap(labels));
    Value::Map(m)
}

fn run_with(text: &str, funcs: &FuncMap, missing: MissingKey) -> Result<String, String> {
    let t = Template::parse("t", text, funcs).map_err(|e| e.to_string())?;
    t.execute(&data(), funcs, missing).map_err(|e| e.to_string())
}

fn run(text: &str) -> String {
    match run_with(text, &FuncMap::new(), MissingKey::Default) {
        Ok(s) => s,
        Err(e) => format!("ERROR: {e}"),
    }
}

fn prom(text: &str) -> String {
    let funcs = prometheus_funcs(1_500, Some(Arc::new(FakeQuerier)), "http://example.com:9090/prom");
    match run_with(text, &funcs, MissingKey::Zero) {
        Ok(s) => s,
        Err(e) => format!("ERROR: {e}"),
    }
}

#[test]
fn exec_table() {
    let cases: &[(&str, &str)] = &[
        ("plain text", "plain text"),
        ("{{.a}}", "1"),
        ("{{.s}}", "str"),
        ("{{.f}}", "1.5"),
        ("{{.missing}}", "<no value>"),
        ("{{.m.a}}-{{.m.b}}", "x-2"),
        ("{{.m}}", "map[a:x b:2]"),
        ("{{.l}}", "[a b c d e]"),
        ("{{.labels}}", "map[instance:host:9100 job:node]"),
        ("a  {{- .a -}}  b", "a1b"),
        ("a {{-3}} b|{{3 -}}\n x|{{- 4}}", "a -3 b|3x|4"),
        ("x\n\t {{- \"y\" -}} \n\tz", "xyz"),
        ("a {{- /* comment */ -}} b", "ab"),
        ("a{{/* comment */}}b", "ab"),
        ("{{$x := 1}}{{$x}}{{$x = 2}}{{$x}}", "12"),
        (
            "{{$}}",
            "map[a:1 empty:[] f:1.5 l:[a b c d e] labels:map[instance:host:9100 job:node] m:map[a:x b:2] s:str t:true z:0]",
        ),
        ("{{with $x := .m}}{{$x.b}}{{end}}", "2"),
        ("{{if .t}}yes{{else}}no{{end}}", "yes"),
        ("{{if .z}}yes{{else}}no{{end}}", "no"),
        ("{{if .missing}}yes{{else}}no{{end}}", "no"),
        ("{{if eq .a 2}}two{{else if eq .a 1}}one{{else}}many{{end}}", "one"),
        ("{{range $i, $e := .l}}{{$i}}={{$e}};{{end}}", "0=a;1=b;2=c;3=d;4=e;"),
        ("{{range $e := .l}}{{$e}}{{end}}", "abcde"),
        ("{{range $k, $v := .m}}{{$k}}{{$v}}{{end}}", "axb2"),
        ("{{range .empty}}x{{else}}none{{end}}", "none"),
        ("{{range .missing}}x{{else}}none{{end}}", "none"),
        (
            "{{range .l}}{{if eq . \"b\"}}{{continue}}{{end}}{{if eq . \"d\"}}{{break}}{{end}}{{.}}{{end}}",
            "ac",
        ),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{range $i := 2}}{{$i}}{{end}}", "01"),
        ("{{with .m}}{{.a}}{{else}}none{{end}}", "x"),
        ("{{with .missing}}x{{else}}none{{end}}", "none"),
        ("{{with .missing}}x{{else with .m}}b={{.b}}{{end}}", "b=2"),
        ("{{define \"T\"}}[{{.}}]{{end}}{{template \"T\" \"x\"}}{{template \"T\" .a}}", "[x][1]"),
        ("{{define \"T\"}}[{{.}}]{{end}}{{template \"T\"}}", "[<no value>]"),
        ("{{block \"B\" .s}}default {{.}}{{end}}", "default str"),
        ("{{\"abc\" | printf \"%s-%s\" \"x\"}}", "x-abc"),
        ("{{(index .l 1)}}", "b"),
        ("{{(.m).b}}", "2"),
        ("{{print 1 2 \"a\" \"b\" 3}}", "1 2ab3"),
        ("{{println 1 \"a\"}}", "1 a\n"),
        ("{{print nil}}", "<nil>"),
        ("{{print .missing}}", "<nil>"),
        (
            "{{1e6}} {{0.1}} {{100000.0}} {{1.5e-7}} {{1234567.0}} {{-0.0}}",
            "1e+06 0.1 100000 1.5e-07 1.234567e+06 -0",
        ),
        ("{{'a'}} {{0x10}} {{0o17}} {{017}} {{1_000}} {{-5}} {{+5}}", "97 16 15 15 1000 -5 5"),
        ("{{`a\\nb`}}|{{\"a\\tb\\u00e9\\x41\"}}", "a\\nb|a\tbéA"),
        ("{{true}} {{false}}", "true false"),
        (
            "{{eq 1 2 3 1}} {{eq \"a\" \"b\"}} {{ne 1 2}} {{eq .missing .missing}} {{eq .missing 1}}",
            "true false true true false",
        ),
        ("{{lt 1 2}} {{le 2 2}} {{gt 1 2}} {{ge \"b\" \"a\"}} {{lt 1.5 2.5}}", "true true false true true"),
        ("{{and 1 0 \"x\"}} {{and 1 \"x\"}} {{or 0 \"\" \"y\"}} {{or 0 \"\"}}", "0 x y "),
        ("{{or 1 (index .l 99)}}", "1"),
        ("{{not 0}} {{not \"x\"}}", "true false"),
        ("{{len \"abc\"}} {{len .l}} {{len .m}}", "3 5 2"),
        (
            "{{index .l 1}} {{index .m \"b\"}} {{index .m \"nope\"}} {{index .labels \"nope\"}}|",
            "b 2 <no value> |",
        ),
        ("{{index \"abc\" 1}}", "98"),
        ("{{slice \"abcdef\" 1 3}} {{slice .l 3}} {{slice .l 1 2}}", "bc [d e] [b]"),
        ("{{html \"<a href='x'>&\\\"</a>\"}}", "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;"),
        ("{{html .missing}}", "&lt;no value&gt;"),
        ("{{js \"a'b\\\"<=>&\"}}", "a\\'b\\\"\\u003C\\u003D\\u003E\\u0026"),
        ("{{urlquery \"a b&c=d/é\"}}", "a+b%26c%3Dd%2F%C3%A9"),
        ("{{ .s | len }}", "3"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        ("{{if true}}{{$y := 5}}{{$y}}{{end}}", "5"),
        (
            "{{range .l}}{{$}}{{break}}{{end}}",
            "map[a:1 empty:[] f:1.5 l:[a b c d e] labels:map[instance:host:9100 job:node] m:map[a:x b:2] s:str t:true z:0]",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(run(text), *want, "template {text:?}");
    }
}

#[test]
fn printf_table() {
    let cases: &[(&str, &str)] = &[
        (
            "{{printf \"%d %s %v %.2f %5.1f|%-5s|%q %t %x %%\" 42 \"s\" 1.5 3.14159 2.26 \"ab\" \"q\" true 255}}",
            "42 s 1.5 3.14   2.3|ab   |\"q\" true ff %",
        ),
        ("{{printf \"%d\" \"foo\"}}", "%!d(string=foo)"),
        ("{{printf \"%s\" 5}}", "%!s(int=5)"),
        ("{{printf \"%d\" 1.5}}", "%!d(float64=1.5)"),
        ("{{printf \"%s %s\" \"a\"}}", "a %!s(MISSING)"),
        ("{{printf \"%s\" \"a\" 1}}", "a%!(EXTRA int=1)"),
        ("{{printf \"%d\" nil}}", "%!d(<nil>)"),
        ("{{printf \"%v\" nil}}", "<nil>"),
        (
            "{{printf \"%g %e %.3e %G\" 1e21 123456.789 0.000123456 1e-10}}",
            "1e+21 1.234568e+05 1.235e-04 1E-10",
        ),
        (
            "{{printf \"%.4g|%.4g|%.4g|%.4g|%.4g\" 1000.0 100000.0 0.0001234 1.5 123.456}}",
            "1000|1e+05|0.0001234|1.5|123.5",
        ),
        (
            "{{printf \"%05d|%+d|%X|%o|%b|%c|%q|%U|%5d|%-4d|\" 42 5 255 8 5 65 65 65 7 7}}",
            "00042|+5|FF|10|101|A|'A'|U+0041|    7|7   |",
        ),
        (
            "{{printf \"%f %.0f %8.3f %-8.2f| %+.1f %08.3f\" 1.0 2.5 3.14159 2.0 1.25 -3.5}}",
            "1.000000 2    3.142 2.00    | +1.2 -003.500",
        ),
        (
            "{{printf \"%v %v %v\" .l .m .labels}}",
            "[a b c d e] map[a:x b:2] map[instance:host:9100 job:node]",
        ),
        ("{{printf \"%q\" .l}}", "[\"a\" \"b\" \"c\" \"d\" \"e\"]"),
        ("{{printf \"%x %X % x\" \"hi\" \"hi\" \"hi\"}}", "6869 6869 68 69"),
        ("{{printf \"%.2s|%5.1s|\" \"abcdef\" \"xyz\"}}", "ab|    x|"),
        ("{{printf \"%*d|%-*d|\" 4 1 3 2}}", "   1|2  |"),
        ("{{printf \"%f %v %e\" (index .m \"b\") .f .f}}", "%!f(int=2) 1.5 1.500000e+00"),
        ("{{printf \"%t\" 1}}", "%!t(int=1)"),
        ("{{printf \"%\"}}", "%!(NOVERB)"),
        ("{{printf \"%v|%.3v|%10.4v|\" 1e6 3.14159 2.0}}", "1e+06|3.14|         2|"),
    ];
    for (text, want) in cases {
        assert_eq!(run(text), *want, "template {text:?}");
    }
}

#[test]
fn float_formatting_matches_go() {
    use gofmt::{float_v, format_float};
    assert_eq!(float_v(1e6), "1e+06");
    assert_eq!(float_v(0.1), "0.1");
    assert_eq!(float_v(f64::INFINITY), "+Inf");
    assert_eq!(float_v(f64::NEG_INFINITY), "-Inf");
    assert_eq!(float_v(f64::NAN), "NaN");
    assert_eq!(float_v(123456.0), "123456");
    assert_eq!(float_v(0.0001), "0.0001");
    assert_eq!(float_v(0.00001), "1e-05");
    assert_eq!(float_v(1e100), "1e+100");
    assert_eq!(float_v(0.0), "0");
    assert_eq!(format_float(0.0, 'g', 4), "0");
    assert_eq!(format_float(0.0, 'e', 2), "0.00e+00");
    assert_eq!(format_float(1234567.0, 'g', 4), "1.235e+06");
    assert_eq!(format_float(999.94, 'g', 4), "999.9");
    assert_eq!(format_float(9999.5, 'g', 4), "1e+04");
    assert_eq!(format_float(-1.5, 'f', 2), "-1.50");
    assert_eq!(format_float(0.000012345, 'g', -1), "1.2345e-05");
}

fn err(text: &str) -> String {
    match run_with(text, &FuncMap::new(), MissingKey::Default) {
        Ok(s) => format!("OK: {s}"),
        Err(e) => e,
    }
}

#[test]
fn parse_errors() {
    let cases: &[(&str, &str)] = &[
        ("{{foo}}", "template: t:1: function \"foo\" not defined"),
        ("{{.a} }}", "template: t:1: unexpected \"}\" in operand"),
        ("{{if .a}}x", "template: t:1: unexpected EOF"),
        ("{{end}}", "template: t:1: unexpected {{end}}"),
        ("{{else}}", "template: t:1: unexpected {{else}}"),
        ("{{$x}}", "template: t:1: undefined variable \"$x\""),
        ("{{ .a", "template: t:1: unclosed action"),
        ("{{ .a \n\n", "template: t:3: unclosed action started at t:1"),
        ("{{break}}", "template: t:1: {{break}} outside {{range}}"),
        ("{{range .l}}{{continue 1}}{{end}}", "template: t:1: unexpected \"1\" in {{continue}}"),
        ("{{\"abc}}", "template: t:1: unterminated quoted string"),
        ("{{ 3x }}", "template: t:1: bad number syntax: \"3x\""),
        ("{{ .a | 3 }}", "template: t:1: non executable command in pipeline stage 2"),
        ("{{ ( .a }}", "template: t:1: unclosed left paren"),
        ("{{ ) }}", "template: t:1: unexpected right paren"),
        ("{{ # }}", "template: t:1: unexpected \"#\" in command"),
        ("{{ .a! }}", "template: t:1: bad character U+0021 '!'"),
        ("a\n{{ .a }}\n{{ foo }}", "template: t:3: function \"foo\" not defined"),
        (
            "{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}",
            "template: t:1: template: multiple definition of template \"a\"",
        ),
        ("{{if}}{{end}}", "template: t:1: missing value for if"),
        ("{{range $i, $e, $f := .l}}{{end}}", "template: t:1: too many declarations in range"),
        ("{{with $x, $y := .m}}{{end}}", "template: t:1: too many declarations in with"),
        ("{{template .a}}", "template: t:1: unexpected \".a\" in template clause"),
        ("{{/* unclosed", "template: t:1: unclosed comment"),
        ("{{/* c */ }}", "template: t:1: comment ends before closing delimiter"),
        ("{{ \"a\".b }}", "template: t:1: unexpected . after term \"\\\"a\\\"\""),
        ("{{ $x := 1 }}{{ $x := }}", "template: t:1: missing value for command"),
        ("{{ 'ab' }}", "template: t:1: malformed character constant: 'ab'"),
        ("{{ \"\\q\" }}", "template: t:1: invalid syntax"),
        ("{{if .a}}{{else}}{{else}}{{end}}", "template: t:1: expected end; found {{else}}"),
        ("{{ .a ~ }}", "template: t:1: unexpected \"~\" in operand"),
        ("{{ : }}", "template: t:1: expected :="),
        ("{{ \u{e9}\u{301} }}", "template: t:1: bad character U+0301 '\u{301}'"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), *want, "template {text:?}");
    }
}

#[test]
fn exec_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "{{eq 1 \"a\"}}",
            "template: t:1:2: executing \"t\" at <eq 1 \"a\">: error calling eq: incompatible types for comparison",
        ),
        (
            "{{lt .f 2}}",
            "template: t:1:2: executing \"t\" at <lt .f 2>: error calling lt: incompatible types for comparison",
        ),
        (
            "{{lt true false}}",
            "template: t:1:2: executing \"t\" at <lt true false>: error calling lt: invalid type for comparison",
        ),
        (
            "{{eq \"aaaaaaaaaaaaaaaaaaaa\" 1}}",
            "template: t:1:2: executing \"t\" at <eq \"aaaaaaaaaaaaaaaaaaaa\" 1>: error calling eq: incompatible types for comparison",
        ),
        ("{{len 3}}", "template: t:1:2: executing \"t\" at <len 3>: error calling len: len of type int"),
        (
            "x\n  {{index .l 5}}",
            "template: t:2:4: executing \"t\" at <index .l 5>: error calling index: index out of range: 5",
        ),
        (
            "{{index 1 0}}",
            "template: t:1:2: executing \"t\" at <index 1 0>: error calling index: can't index item of type int",
        ),
        (
            "{{slice .l 3 1}}",
            "template: t:1:2: executing \"t\" at <slice .l 3 1>: error calling slice: invalid slice index: 3 > 1",
        ),
        ("{{not}}", "template: t:1:2: executing \"t\" at <not>: wrong number of args for not: want 1 got 0"),
        ("{{ne 1}}", "template: t:1:2: executing \"t\" at <ne>: wrong number of args for ne: want 2 got 1"),
        (
            "{{and}}",
            "template: t:1:2: executing \"t\" at <and>: wrong number of args for and: want at least 1 got 0",
        ),
        ("{{nil}}", "template: t:1:2: executing \"t\" at <nil>: nil is not a command"),
        ("{{.s.x}}", "template: t:1:4: executing \"t\" at <.s.x>: can't evaluate field x in type string"),
        ("{{.m.a 1}}", "template: t:1:4: executing \"t\" at <.m.a>: a is not a method but has arguments"),
        ("{{1 2}}", "template: t:1:2: executing \"t\" at <1>: can't give argument to non-function 1"),
        ("{{range .f}}{{end}}", "template: t:1:8: executing \"t\" at <.f>: range can't iterate over 1.5"),
        (
            "{{template \"nope\"}}",
            "template: t:1:11: executing \"t\" at <{{template \"nope\"}}>: template \"nope\" not defined",
        ),
        (
            "{{define \"T\"}}{{.x.y}}{{end}}{{template \"T\" 5}}",
            "template: t:1:18: executing \"T\" at <.x.y>: can't evaluate field x in type int",
        ),
        (
            "{{range $i, $e := 3}}{{end}}",
            "template: t:1:18: executing \"t\" at <3>: can't use 3 to iterate over more than one variable",
        ),
        (
            "{{ 18446744073709551615 }}",
            "template: t:1:3: executing \"t\" at <18446744073709551615>: 18446744073709551615 overflows int",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), *want, "template {text:?}");
    }
}

#[test]
fn missingkey_modes() {
    let f = FuncMap::new();
    assert_eq!(
        run_with("{{.nope}}|{{.labels.nope}}", &f, MissingKey::Default).as_deref(),
        Ok("<no value>|<no value>")
    );
    assert_eq!(run_with("{{.nope}}|{{.labels.nope}}", &f, MissingKey::Zero).as_deref(), Ok("<no value>|"));
    assert_eq!(
        run_with("{{.labels.nope}}", &f, MissingKey::Error),
        Err("template: t:1:9: executing \"t\" at <.labels.nope>: map has no entry for key \"nope\"".into())
    );
    assert_eq!(
        run_with("{{.nope.x}}", &f, MissingKey::Error),
        Err("template: t:1:7: executing \"t\" at <.nope.x>: map has no entry for key \"nope\"".into())
    );
    assert_eq!(run_with("{{.nope.deeper.still}}", &f, MissingKey::Default).as_deref(), Ok("<no value>"));
}

#[test]
fn template_sets_and_names() {
    let f = FuncMap::new();
    let mut t = Template::parse("main", "{{define \"a\"}}A{{end}}main:{{template \"a\"}}", &f)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.execute(&Value::Nil, &f, MissingKey::Default).as_deref(), Ok("main:A"));
    // Redefinition through add replaces; an empty body does not.
    t.add("more", "{{define \"a\"}}B{{end}}", &f).unwrap_or_else(|e| panic!("{e}"));
    t.add("more2", "{{define \"a\"}}{{end}}", &f).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.execute(&Value::Nil, &f, MissingKey::Default).as_deref(), Ok("main:B"));
    assert_eq!(t.execute_named("a", &Value::Nil, &f, MissingKey::Default).as_deref(), Ok("B"));
    assert_eq!(
        t.execute_named("zzz", &Value::Nil, &f, MissingKey::Default),
        Err(TemplateError::Exec("template: no template \"zzz\" associated with template \"main\"".into()))
    );
    assert!(t.has("more") && t.has("a"));
    // User functions override builtins and may be called with pipelines.
    let mut f2 = FuncMap::new();
    f2.add("len", |_a: &[Value]| Ok(Value::from("mine")));
    f2.add("fail", |_a: &[Value]| Err("boom".to_string()));
    assert_eq!(run_with("{{len \"abc\"}}", &f2, MissingKey::Default).as_deref(), Ok("mine"));
    assert_eq!(
        run_with("{{ \"x\" | fail }}", &f2, MissingKey::Default),
        Err("template: t:1:9: executing \"t\" at <fail>: error calling fail: boom".into())
    );
}

struct Obj;
impl TemplateObject for Obj {
    fn field(&self, name: &str) -> Option<Value> {
        (name == "Name").then(|| Value::from("obj"))
    }
    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        (name == "Join").then(|| Ok(Value::String(gofmt::sprint(args))))
    }
    fn type_name(&self) -> String {
        "*main.Obj".into()
    }
    fn go_string(&self) -> String {
        "&{obj}".into()
    }
}

#[test]
fn objects_fields_and_methods() {
    let f = FuncMap::new();
    let t = Template::parse("t", "{{.Name}} {{.Join \"a\" \"b\"}} {{.}} {{.Nope}}", &f)
        .unwrap_or_else(|e| panic!("{e}"));
    let r = t.execute(&Value::Object(Arc::new(Obj)), &f, MissingKey::Default);
    assert_eq!(
        r,
        Err(TemplateError::Exec(
            "template: t:1:36: executing \"t\" at <.Nope>: can't evaluate field Nope in type *main.Obj"
                .into()
        ))
    );
    let t =
        Template::parse("t", "{{.Name}} {{.Join \"a\" \"b\"}} {{.}}", &f).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.execute(&Value::Object(Arc::new(Obj)), &f, MissingKey::Default).as_deref(),
        Ok("obj ab &{obj}")
    );
}

#[test]
fn limit_template_recursion() {
    let recursion = err("{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\" .}}");
    assert!(recursion.contains("exceeded maximum template depth (100)"), "{recursion}");
    // Deep but allowed: nested controls inside recursive calls stay within the stack.
    let nested = format!(
        "{{{{define \"r\"}}}}{}{{{{template \"r\" .}}}}{}{{{{end}}}}{{{{template \"r\" .}}}}",
        "{{if 1}}{{with 2}}".repeat(20),
        "{{end}}{{end}}".repeat(20)
    );
    let r = err(&nested);
    assert!(r.contains("exceeded maximum template depth (100)"), "{r}");
}

#[test]
fn limit_output_and_steps() {
    let big = err("{{range 100000}}{{range 100000}}xxxxxxxxxxxxxxxx{{end}}{{end}}");
    assert!(big.contains("output exceeds the limit"), "{big}");
    let spin = err("{{range 1000000000}}{{end}}");
    assert!(spin.contains("execution exceeds the limit"), "{spin}");
    assert_eq!(run("{{printf \"%99999999d\" 1}}"), "%!(NOVERB)%!(EXTRA int=1)");
}

#[test]
fn limit_value_growth() {
    let doubling = err("{{$x := \"aaaaaaaa\"}}{{range 40}}{{$x = printf \"%s%s\" $x $x}}{{end}}{{len $x}}");
    assert!(doubling.contains("result of printf exceeds the limit"), "{doubling}");
    let wide = err(&format!("{{{{printf \"{}\" {}}}}}", "%999999d".repeat(20), "1 ".repeat(20)));
    assert!(wide.contains("exceeds the limit"), "{}", &wide[..wide.len().min(300)]);
}

/// Pseudo-random templates from fragments: parsing and executing never panics.
#[test]
fn random_templates_do_not_panic() {
    const FRAGMENTS: &[&str] = &[
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "\n",
        ".a",
        ".m.b",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "\"s\"",
        "`r`",
        "'c'",
        "1",
        "-2.5e3",
        "0x1f",
        "nil",
        "true",
        "printf",
        "\"%d %s %v %5.2f\"",
        "index",
        "slice",
        "len",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "print",
        "html",
        "js",
        "urlquery",
        ".l",
        "/*",
        "*/",
        ",",
        "{{end}}",
        "{{range .l}}",
        "{{if .t}}",
        "{{else}}",
        "\u{e9}",
        "\\",
        "{{$x := 1}}",
        "{{$x}}",
    ];
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let funcs = FuncMap::new();
    let iterations = std::env::var("TEMPLATE_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    for _ in 0..iterations {
        let n = (next() % 16) as usize + 1;
        let text: String = (0..n).map(|_| FRAGMENTS[(next() % FRAGMENTS.len() as u64) as usize]).collect();
        if let Ok(t) = Template::parse("fuzz", &text, &funcs) {
            let _ = t.execute(&data(), &funcs, MissingKey::Error);
        }
    }
}

/// Random `printf` formats over every kind of value: no panics, and plain text survives.
#[test]
fn random_printf_does_not_panic() {
    let alphabet: Vec<char> = "%-+# 0123456789.*vdsqxXfFeEgGtcUobTz%é".chars().collect();
    let args = [
        Value::Nil,
        Value::Bool(true),
        Value::Int(-42),
        Value::Int(i64::MIN),
        Value::Float(-1.5e-7),
        Value::Float(f64::NAN),
        Value::Float(1e300),
        Value::from("héllo\n"),
        data(),
        Value::List(vec![Value::Int(1), Value::Nil, Value::from("x")]),
    ];
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..50_000 {
        let n = (next() % 10) as usize;
        let format: String = (0..n).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        let k = (next() % 4) as usize;
        let chosen: Vec<Value> =
            (0..k).map(|_| args[(next() % args.len() as u64) as usize].clone()).collect();
        let _ = gofmt::sprintf(&format, &chosen);
    }
    assert_eq!(gofmt::sprintf("plain é", &[]), "plain é");
}

#[test]
fn limit_parse_depth() {
    let parens = format!("{{{{{}1{}}}}}", "(".repeat(5000), ")".repeat(5000));
    assert_eq!(err(&parens), "template: t:1: max expression depth exceeded");
    let ifs = format!("{}{}", "{{if 1}}".repeat(5000), "{{end}}".repeat(5000));
    assert_eq!(err(&ifs), "template: t:1: max expression depth exceeded");
    let ok = format!("{}{}", "{{if 1}}".repeat(90), "{{end}}".repeat(90));
    assert_eq!(err(&ok), "OK: ");
    let parens = format!("{{{{{}1{}}}}}", "(".repeat(90), ")".repeat(90));
    assert_eq!(err(&parens), "OK: 1");
}

// ---- Prometheus ----

struct FakeQuerier;

impl TemplateQuerier for FakeQuerier {
    fn query(&self, expr: &str, _t_ms: i64) -> Result<Vec<QuerySample>, String> {
        let sample = |inst: &str, v: f64| {
            let mut labels = BTreeMap::new();
            labels.insert("__name__".to_string(), "up".to_string());
            labels.insert("instance".to_string(), inst.to_string());
            QuerySample { labels, value: v }
        };
        match expr {
            "up" => Ok(vec![sample("b", 1.0), sample("a", 0.0), sample("c", 1.0)]),
            "none" => Ok(vec![]),
            "1.5" => Ok(vec![QuerySample { labels: BTreeMap::new(), value: 1.5 }]),
            other => Err(format!("bad query {other:?}")),
        }
    }
}

#[test]
fn prometheus_functions() {
    let cases: &[(&str, &str)] = &[
        (
            "{{ humanize 0 }}:{{ humanize 1e6 }}:{{ humanize 1e-3 }}:{{ humanize \"NaN\" }}:{{ humanize \"+Inf\" }}",
            "0:1M:1m:NaN:+Inf",
        ),
        (
            "{{ humanize 1 }}:{{ humanize 1234567.0 }}:{{ humanize .12 }}:{{ humanize -1e6 }}:{{ humanize 0.000012 }}:{{ humanize \"2048\" }}",
            "1:1.235M:120m:-1M:12u:2.048k",
        ),
        (
            "{{ humanize1024 0 }}:{{ humanize1024 1 }}:{{ humanize1024 1048576.0 }}:{{ humanize1024 .12 }}:{{ humanize1024 1536 }}",
            "0:1:1Mi:0.12:1.5ki",
        ),
        (
            "{{ humanizeDuration 0 }}:{{ humanizeDuration 1.5 }}:{{ humanizeDuration 61 }}:{{ humanizeDuration 90000 }}:{{ humanizeDuration -1 }}",
            "0s:1.5s:1m 1s:1d 1h 0m 0s:-1s",
        ),
        (
            "{{ humanizeDuration 1 }}:{{ humanizeDuration 60 }}:{{ humanizeDuration 3600 }}:{{ humanizeDuration -187445 }}:{{ humanizeDuration 899.99 }}",
            "1s:1m 0s:1h 0m 0s:-2d 4h 4m 5s:14m 59s",
        ),
        (
            "{{ humanizeDuration .1 }}:{{ humanizeDuration .0001 }}:{{ humanizeDuration .12345 }}:{{ humanizeDuration 60.1 }}:{{ humanizeDuration 1.2345 }}",
            "100ms:100us:123.5ms:1m 0s:1.234s",
        ),
        ("{{ humanizeDuration \"NaN\" }}:{{ humanizeDuration \"Inf\" }}", "NaN:+Inf"),
        (
            "{{ humanizePercentage 0.1234567 }}:{{ humanizePercentage 1 }}:{{ humanizePercentage 0 }}:{{ humanizePercentage -0.22 }}",
            "12.35%:100%:0%:-22%",
        ),
        (
            "{{ humanizeTimestamp 1435065584.128 }}|{{ humanizeTimestamp 0 }}|{{ humanizeTimestamp \"NaN\" }}",
            "2015-06-23 13:19:44.128 +0000 UTC|1970-01-01 00:00:00 +0000 UTC|NaN",
        ),
        ("{{ toTime 1435065584.128 }}|{{ (toTime 10).Unix }}", "2015-06-23 13:19:44.128 +0000 UTC|10"),
        (
            "{{ toDuration 3723.5 }}|{{ toDuration 0.0015 }}|{{ toDuration 0 }}|{{ toDuration -60 }}",
            "1h2m3.5s|1.5ms|0s|-1m0s",
        ),
        ("{{ parseDuration \"1h2m10ms\" }}|{{ parseDuration \"0\" }}", "3720.01|0"),
        ("{{ now }}", "1.5"),
        ("{{ pathPrefix }}|{{ externalURL }}", "/prom|http://example.com:9090/prom"),
        (
            "{{ \"aa bb CC-dd_ee\" | title }}|{{ toUpper \"aBc\" }}|{{ toLower \"aBc\" }}",
            "Aa Bb CC-Dd_ee|ABC|abc",
        ),
        ("{{ match \"a+\" \"baaa\" }}|{{ match \"^a$\" \"ba\" }}", "true|false"),
        (
            "{{ reReplaceAll \"(a)b\" \"x$1\" \"abab\" }}|{{ reReplaceAll \"(?P<n>\\\\d+)\" \"<${n}>\" \"a12b3\" }}",
            "xaxa|a<12>b<3>",
        ),
        ("{{ graphLink \"up{job=\\\"x\\\"} > 1\" }}", "/graph?g0.expr=up%7Bjob%3D%22x%22%7D+%3E+1&g0.tab=0"),
        ("{{ tableLink \"rate(x[5m])\" }}", "/graph?g0.expr=rate%28x%5B5m%5D%29&g0.tab=1"),
        (
            "{{ stripPort \"foo.com:12345\" }}|{{ stripPort \"[2001:0DB8::1]:12345\" }}|{{ stripPort \"foo\" }}|{{ stripPort \"::1\" }}",
            "foo.com|2001:0DB8::1|foo|::1",
        ),
        (
            "{{ stripDomain \"foo.example.com:12345\" }}|{{ stripDomain \"192.168.0.1:12345\" }}|{{ stripDomain \"[2001:0DB8::1]:12345\" }}|{{ stripDomain \"foo.example.com\" }}",
            "foo:12345|192.168.0.1:12345|[2001:0DB8::1]:12345|foo",
        ),
        ("{{ with args 1 \"x\" }}{{ .arg0 }}-{{ .arg1 }}{{ end }}", "1-x"),
        ("{{ safeHtml \"<b>\" }}", "<b>"),
        ("{{ urlQueryEscape \"a b/c\" }}", "a+b%2Fc"),
        ("{{ query \"1.5\" | first | value }}", "1.5"),
        ("{{ with query \"up\" }}{{ . | first | label \"instance\" }}{{ end }}", "b"),
        (
            "{{ range sortByLabel \"instance\" (query \"up\") }}{{ .Labels.instance }}={{ .Value }}:{{ end }}",
            "a=0:b=1:c=1:",
        ),
        ("{{ range query \"up\" }}{{ . | label \"instance\" }}{{ end }}|{{ len (query \"up\") }}", "bac|3"),
        ("{{ query \"1.5\" | first }}", "&{map[] 1.5}"),
        ("{{ with query \"none\" }}some{{ else }}none{{ end }}", "none"),
        (
            "{{ query \"none\" | first }}",
            "ERROR: template: t:1:18: executing \"t\" at <first>: error calling first: first() called on vector with no elements",
        ),
        (
            "{{ query \"bad\" }}",
            "ERROR: template: t:1:3: executing \"t\" at <query \"bad\">: error calling query: bad query \"bad\"",
        ),
        (
            "{{ humanize \"x\" }}",
            "ERROR: template: t:1:3: executing \"t\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax",
        ),
        (
            "{{ humanize true }}",
            "ERROR: template: t:1:3: executing \"t\" at <humanize true>: error calling humanize: can't convert bool to float",
        ),
        (
            "{{ humanize 1 2 }}",
            "ERROR: template: t:1:3: executing \"t\" at <humanize>: wrong number of args for humanize: want 1 got 2",
        ),
        (
            "{{ toUpper 1 }}",
            "ERROR: template: t:1:3: executing \"t\" at <toUpper>: wrong type for value; expected string; got int",
        ),
        (
            "{{ reReplaceAll \"(\" \"\" \"x\" }}",
            "ERROR: template: t:1:3: executing \"t\" at <reReplaceAll \"(\" \"\" \"x\">: error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: unclosed group: `(`",
        ),
        (
            "{{ match \"(\" \"x\" }}",
            "ERROR: template: t:1:3: executing \"t\" at <match \"(\" \"x\">: error calling match: error parsing regexp: unclosed group: `(`",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(prom(text), *want, "template {text:?}");
    }
}

fn alert_data(value: f64) -> AlertTemplateData {
    let mut labels = BTreeMap::new();
    labels.insert("instance".to_string(), "host1".to_string());
    labels.insert("job".to_string(), "node".to_string());
    let mut external_labels = BTreeMap::new();
    external_labels.insert("cluster".to_string(), "eu1".to_string());
    AlertTemplateData { labels, external_labels, external_url: "http://prom:9090".into(), value }
}

#[test]
fn alert_expansion() {
    let d = alert_data(1234567.0);
    let q = FakeQuerier;
    let ex = |text: &str| expand_alert_template("HighLoad", text, &d, 0, Some(&q), "http://prom:9090");
    assert_eq!(ex("{{ $labels.instance }} has {{ $value | humanize }}").as_deref(), Ok("host1 has 1.235M"));
    assert_eq!(
        ex("{{ $externalLabels.cluster }} {{ $externalURL }} {{ .Value }} {{ .Labels.job }}").as_deref(),
        Ok("eu1 http://prom:9090 1.234567e+06 node")
    );
    assert_eq!(ex("[{{ $labels.nope }}]").as_deref(), Ok("[]"), "missingkey=zero gives empty label values");
    assert_eq!(ex("{{ if gt $value 10.0 }}high{{ end }}").as_deref(), Ok("high"));
    assert_eq!(
        ex("{{ if gt $value 10 }}high{{ end }}"),
        Err("error executing template __alert_HighLoad: template: __alert_HighLoad:1:118: executing \"__alert_HighLoad\" at <gt $value 10>: error calling gt: incompatible types for comparison".into())
    );
    assert_eq!(
        ex("{{ .Nope }}"),
        Err("error executing template __alert_HighLoad: template: __alert_HighLoad:1:115: executing \"__alert_HighLoad\" at <.Nope>: can't evaluate field Nope in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }".into())
    );
    assert_eq!(
        ex("{{ $value | humanizex }}"),
        Err("error parsing template __alert_HighLoad: template: __alert_HighLoad:1: function \"humanizex\" not defined".into())
    );
    assert_eq!(ex("{{ range query \"up\" }}{{ .Labels.instance }}{{ end }}").as_deref(), Ok("bac"));
    let no_querier = expand_alert_template("A", "{{ query \"up\" }}", &d, 0, None, "");
    assert!(
        no_querier.as_ref().is_err_and(|e| e.contains("error calling query: no querier")),
        "{no_querier:?}"
    );
    assert_eq!(
        expand_alert_template_or_error("A", "{{ .X }}", &d, 0, None, ""),
        "<error expanding template: error executing template __alert_A: template: __alert_A:1:115: executing \"__alert_A\" at <.X>: can't evaluate field X in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }>"
    );
    // A template with every control structure.
    let text = "{{ with $labels.instance }}{{ . }}{{ else }}?{{ end }}: {{ if gt $value 1e6 }}big{{ else if gt $value 1.0 }}mid{{ else }}small{{ end }}; {{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}";
    assert_eq!(ex(text).as_deref(), Ok("host1: big; instance=host1,job=node,"));
}

#[test]
fn promtool_parse_check() {
    assert_eq!(parse_check("A", "{{ $labels.instance }} {{ $value | humanize }}"), Ok(()));
    assert_eq!(
        parse_check("A", "{{ $labels.x | humanizex }}"),
        Err("template: __alert_A:1: function \"humanizex\" not defined".into())
    );
    assert_eq!(
        parse_check("A", "{{ $nope }}"),
        Err("template: __alert_A:1: undefined variable \"$nope\"".into())
    );
    assert_eq!(parse_check("A", "x\n{{ if .a }}"), Err("template: __alert_A:2: unexpected EOF".into()));
    assert_eq!(parse_check("A", "{{ query \"up\" | first | value }}"), Ok(()));
    assert_eq!(
        parse_check("A", "{{ $labels.instance} }}"),
        Err("template: __alert_A:1: unexpected \"}\" in operand".into())
    );
    // `harrier rules check` goes through the same parser.
    assert_eq!(
        crate::rules::check::check_template("{{ range $labels }}{{ . | humanizex }}{{ end }}", "__alert_X"),
        Err("template: __alert_X:1: function \"humanizex\" not defined".into())
    );
}
