//! The typed tree: [`Expr`] nodes and [`Program`] (an expression with its input declarations),
//! with the structural measures (depth, size, a structural hash) the evolver uses.

use super::error::ProgramError;
use super::types::{Input, Prim, Type};
use crate::rng::{mix64, mix_into};

/// An expression node. Inputs are referred to by their index in the declarations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// An integer literal.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// The input declared at this index.
    Input(usize),
    /// A primitive applied to its arguments.
    Call(Prim, Vec<Expr>),
}

impl Expr {
    /// Depth: a leaf is 1, a call is 1 + its deepest argument.
    pub fn depth(&self) -> usize {
        match self {
            Expr::Call(_, args) => 1 + args.iter().map(Expr::depth).max().unwrap_or(0),
            _ => 1,
        }
    }

    /// Number of nodes.
    pub fn size(&self) -> usize {
        match self {
            Expr::Call(_, args) => 1 + args.iter().map(Expr::size).sum::<usize>(),
            _ => 1,
        }
    }

    /// The node's type given the declarations (the tree is assumed well typed; an out-of-range
    /// input index reads as `int`).
    pub fn ty(&self, inputs: &[Input]) -> Type {
        match self {
            Expr::Int(_) => Type::Int,
            Expr::Bool(_) => Type::Bool,
            Expr::Input(i) => inputs.get(*i).map_or(Type::Int, |d| d.kind.ty()),
            Expr::Call(Prim::If, args) => args.get(1).map_or(Type::Int, |a| a.ty(inputs)),
            Expr::Call(p, _) => p.result(),
        }
    }

    /// A stable 64-bit hash of the tree's structure (inputs by index), for deduplication.
    pub(crate) fn structural_hash(&self, h: &mut u64) {
        match self {
            Expr::Int(x) => mix_into(h, 1 ^ ((*x as u64) << 8)),
            Expr::Bool(b) => mix_into(h, 2 ^ ((*b as u64) << 8)),
            Expr::Input(i) => mix_into(h, 3 ^ ((*i as u64) << 8)),
            Expr::Call(p, args) => {
                mix_into(h, 4 ^ ((*p as u64) << 8));
                for a in args {
                    a.structural_hash(h);
                }
                mix_into(h, 5);
            }
        }
    }

    /// Whether the tree reads input `index` anywhere.
    pub fn uses_input(&self, index: usize) -> bool {
        match self {
            Expr::Input(i) => *i == index,
            Expr::Call(_, args) => args.iter().any(|a| a.uses_input(index)),
            _ => false,
        }
    }
}

/// A typed task program: an expression over declared inputs. Built only by parsing (or by
/// checked edits), so it is always well typed; its text is [`std::fmt::Display`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Program {
    pub(crate) expr: Expr,
    pub(crate) inputs: Vec<Input>,
    pub(crate) output: Type,
}

impl Program {
    /// A program from a tree and declarations, type-checked (through its text, so that any
    /// error carries a position in the canonical text).
    pub fn from_parts(expr: Expr, inputs: Vec<Input>) -> Result<Program, ProgramError> {
        let text = super::syntax::print(&expr, &inputs);
        Program::parse(&text)
    }

    /// A program the caller knows is well typed (the evolver's edits keep types by construction).
    pub(crate) fn new_unchecked(expr: Expr, inputs: Vec<Input>) -> Program {
        let output = expr.ty(&inputs);
        Program {
            expr,
            inputs,
            output,
        }
    }

    /// The expression tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The declared inputs, in declaration order (the order [`Program::run`] takes values in).
    pub fn inputs(&self) -> &[Input] {
        &self.inputs
    }

    /// The type of the program's answers.
    pub fn output_type(&self) -> Type {
        self.output
    }

    /// Depth of the expression (a bare input is 1).
    pub fn depth(&self) -> usize {
        self.expr.depth()
    }

    /// Number of nodes of the expression.
    pub fn size(&self) -> usize {
        self.expr.size()
    }

    /// The same expression with other input knobs (what a knob change does): `inputs` must have
    /// the same names and types in the same order; only the sizes may differ.
    pub fn with_inputs(&self, inputs: Vec<Input>) -> Result<Program, ProgramError> {
        if inputs.len() != self.inputs.len() {
            return Err(ProgramError::InputMismatch {
                index: inputs.len().min(self.inputs.len()),
                expected: format!("{} input(s)", self.inputs.len()),
                found: format!("{} input(s)", inputs.len()),
            });
        }
        for (index, (old, new)) in self.inputs.iter().zip(&inputs).enumerate() {
            if old.name != new.name || old.kind.ty() != new.kind.ty() {
                return Err(ProgramError::InputMismatch {
                    index,
                    expected: format!("{}:{}", old.name, old.kind.ty()),
                    found: format!("{}:{}", new.name, new.kind.ty()),
                });
            }
            if let Some(why) = new.kind.check() {
                return Err(ProgramError::InputMismatch {
                    index,
                    expected: format!("{}:{} within its limits", old.name, old.kind.ty()),
                    found: format!("{new} ({why})"),
                });
            }
        }
        Ok(Program {
            expr: self.expr.clone(),
            inputs,
            output: self.output,
        })
    }

    /// A stable hash of the tree and the input kinds (names excluded): equal for programs that
    /// differ only in input names.
    pub(crate) fn structural_hash(&self) -> u64 {
        let mut h = 0x243F_6A88_85A3_08D3;
        self.expr.structural_hash(&mut h);
        for i in &self.inputs {
            mix_into(&mut h, kind_word(i.kind));
        }
        mix64(h)
    }
}

impl serde::Serialize for Program {
    /// As its canonical text with declarations.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Program {
    /// From program text (any spacing), parsed and type-checked.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Program::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("program {text:?}: {e}")))
    }
}

/// The input kind packed into one word (for hashes).
pub(crate) fn kind_word(kind: super::types::InputKind) -> u64 {
    use super::types::InputKind;
    match kind {
        InputKind::Int { digits } => 0x10 | (digits as u64) << 8,
        InputKind::List { len, digits } => 0x20 | (digits as u64) << 8 | (len as u64) << 16,
        InputKind::Bool => 0x30,
    }
}
