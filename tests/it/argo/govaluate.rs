//! Argo's `when` as Argo evaluates it: substitute the `{{…}}` references, then evaluate with
//! govaluate (github.com/Knetic/govaluate, the version Argo pins). What is followed, from their
//! source (argo-workflows v4.1.2 `workflow/controller/steps.go` `shouldExecute`; govaluate
//! `parsing.go`, `stagePlanner.go`):
//! - a bare word is one token of letters, digits, `_` and `.` (govaluate's variable names); Argo
//!   then turns each such variable into a string, so `Succeeded == Succeeded` is true;
//! - `'…'` and `"…"` are string literals; numbers are numbers; `true`/`false` are booleans;
//! - `+ - * / %` need numbers: `needs-approval` is `needs - approval`, an error ("Value 'needs'
//!   cannot be used with the modifier '-', it is not a number", Argo issue #3611);
//! - `== !=` on any two values, `< > <= >=` on numbers, `&& || !` on booleans, parentheses.
//!
//! Anything else is an error, as it is for the controller (the node then errors).

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Text(String),
    Bool(bool),
    Op(&'static str),
    Open,
    Close,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    Bool(bool),
}

const OPERATORS: [&str; 16] = [
    "==", "!=", ">=", "<=", "&&", "||", ">", "<", "!", "+", "-", "*", "/", "%", "=~", "!~",
];

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or_else(|| format!("unclosed string in `{text}`"))?;
            out.push(Token::Text(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            out.push(Token::Number(s.parse().map_err(|_| format!("bad number `{s}`"))?));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            out.push(match word.as_str() {
                "true" => Token::Bool(true),
                "false" => Token::Bool(false),
                // Argo turns every variable token into a string (steps.go, shouldExecute).
                _ => Token::Text(word),
            });
        } else {
            let rest: String = chars[i..].iter().take(2).collect();
            let op = OPERATORS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| format!("invalid character `{c}` in `{text}`"))?;
            out.push(Token::Op(op));
            i += op.len();
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_op(&self) -> Option<&'static str> {
        match self.tokens.get(self.at) {
            Some(Token::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn binary(&mut self, level: usize) -> Result<Value, String> {
        const LEVELS: [&[&str]; 5] = [
            &["||"],
            &["&&"],
            &["==", "!=", ">=", "<=", ">", "<", "=~", "!~"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.peek_op().filter(|op| LEVELS[level].contains(op)) {
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = apply(op, left, right)?;
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Value, String> {
        match self.tokens.get(self.at).cloned() {
            Some(Token::Op("!")) => {
                self.at += 1;
                match self.unary()? {
                    Value::Bool(b) => Ok(Value::Bool(!b)),
                    other => Err(format!("Value '{}' cannot be used with the modifier '!'", show(&other))),
                }
            }
            Some(Token::Op("-")) => {
                self.at += 1;
                match self.unary()? {
                    Value::Number(n) => Ok(Value::Number(-n)),
                    other => Err(format!("Value '{}' cannot be negated", show(&other))),
                }
            }
            Some(Token::Open) => {
                self.at += 1;
                let v = self.binary(0)?;
                if self.tokens.get(self.at) != Some(&Token::Close) {
                    return Err("unbalanced parenthesis".into());
                }
                self.at += 1;
                Ok(v)
            }
            Some(Token::Number(n)) => {
                self.at += 1;
                Ok(Value::Number(n))
            }
            Some(Token::Text(s)) => {
                self.at += 1;
                Ok(Value::Text(s))
            }
            Some(Token::Bool(b)) => {
                self.at += 1;
                Ok(Value::Bool(b))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::Text(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
    }
}

fn apply(op: &str, left: Value, right: Value) -> Result<Value, String> {
    let number = |v: &Value| match v {
        Value::Number(n) => Ok(*n),
        other => Err(format!(
            "Value '{}' cannot be used with the modifier '{op}', it is not a number",
            show(other)
        )),
    };
    let boolean = |v: &Value| match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!(
            "Value '{}' cannot be used with the logical operator '{op}'",
            show(other)
        )),
    };
    Ok(match op {
        "==" => Value::Bool(left == right),
        "!=" => Value::Bool(left != right),
        "&&" => Value::Bool(boolean(&left)? && boolean(&right)?),
        "||" => Value::Bool(boolean(&left)? || boolean(&right)?),
        ">" => Value::Bool(number(&left)? > number(&right)?),
        "<" => Value::Bool(number(&left)? < number(&right)?),
        ">=" => Value::Bool(number(&left)? >= number(&right)?),
        "<=" => Value::Bool(number(&left)? <= number(&right)?),
        "+" => Value::Number(number(&left)? + number(&right)?),
        "-" => Value::Number(number(&left)? - number(&right)?),
        "*" => Value::Number(number(&left)? * number(&right)?),
        "/" => Value::Number(number(&left)? / number(&right)?),
        "%" => Value::Number(number(&left)? % number(&right)?),
        other => return Err(format!("operator `{other}` is not supported here")),
    })
}

/// Evaluates an already substituted `when` to a boolean, or the error Argo would record.
pub fn evaluate(expression: &str) -> Result<bool, String> {
    let tokens = lex(expression)?;
    let mut parser = Parser { tokens, at: 0 };
    let value = parser.binary(0)?;
    if parser.at != parser.tokens.len() {
        return Err(format!("unexpected tokens after `{expression}`"));
    }
    match value {
        Value::Bool(b) => Ok(b),
        other => Err(format!("`{expression}` is {other:?}, not a boolean")),
    }
}

#[test]
fn govaluate_as_argo_uses_it() {
    assert_eq!(evaluate("promote == promote"), Ok(true));
    assert_eq!(evaluate("'needs-approval' == 'needs-approval'"), Ok(true));
    assert_eq!(evaluate("'reject' != 'reject'"), Ok(false));
    assert_eq!(evaluate("true == true"), Ok(true));
    assert_eq!(evaluate("3 > 2 && !(1 == 2)"), Ok(true));
    let err = evaluate("needs-approval == needs-approval").unwrap_err();
    assert!(err.contains("cannot be used with the modifier '-'"), "{err}");
    assert!(
        evaluate("promote == needs-approval").is_err(),
        "the right side alone is enough"
    );
    assert!(evaluate("metrics-stale == none").is_err());
    assert!(evaluate("'a' == ").is_err());
}
