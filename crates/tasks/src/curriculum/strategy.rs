//! The curriculum's open seam: `trait Strategy` (chooses one family's next cell), the
//! `StrategyConfig` that builds it from `[tasks.curriculum]`, and `Strategies`, the constructors
//! by name (`type = "frontier"`). Built-ins and a user's own strategies register the same way.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::{CellStats, FamilyCells};
use crate::config::CurriculumConfig;
use crate::error::{Result, TasksError};
use crate::knobs::Knobs;
use crate::rng::TaskRng;

/// Chooses the next cell of one family and learns from the outcomes (one instance per family).
///
/// Contract: `choose` returns an index into `cells` that belongs to `family` (one of
/// `family.all()`); it draws randomness only from `rng` (the curriculum's seeded stream), so that
/// a seed reproduces a run. The curriculum calls `update` after `cells[cell]` took in one group's
/// outcomes, then `propose`. Everything the strategy needs to continue exactly after a checkpoint
/// is in its serde state (the `Serialize + Deserialize` that [`StrategyConfig::Strategy`]
/// requires): a restored strategy must make the same choices as the one that was saved. That state
/// is saved as a JSON object (a struct with named fields, `{}` when it has none) and must not have
/// a field named `type`.
pub trait Strategy: Send + Sync {
    /// The cell (an index into `cells`) for the next task of `family`.
    fn choose(&mut self, family: &FamilyCells, cells: &[CellStats], rng: &mut TaskRng) -> usize;

    /// Called after `cells[cell]` took in one group's outcomes.
    fn update(&mut self, _family: &FamilyCells, _cell: usize, _cells: &[CellStats]) {}

    /// New cells for `family` (e.g. intermediate knob settings between two ladder levels), asked
    /// after each `update`. The curriculum resolves their knobs against the family and skips
    /// invalid ones and ones it already has.
    fn propose(&mut self, _family: &FamilyCells, _cells: &[CellStats]) -> Vec<NewCell> {
        Vec::new()
    }

    /// The current ladder position (index into `family.levels`) for metrics and plots: by
    /// default the lowest level not mastered at [`Strategy::mastery`] after one group.
    fn position(&self, family: &FamilyCells, cells: &[CellStats]) -> usize {
        family.frontier(cells, self.mastery(), 1)
    }

    /// The chance-corrected pass rate at which a level counts as mastered in reports.
    fn mastery(&self) -> f64 {
        0.8
    }

    /// Whether `family` has nothing left to teach: every cell this strategy can still draw is
    /// mastered by its own rule, so a run may stop (`train.stop_when_mastered`). Default: every
    /// ladder level at [`Strategy::mastery`] after [`EXHAUSTED_MIN_GROUPS`] groups.
    fn exhausted(&self, family: &FamilyCells, cells: &[CellStats]) -> bool {
        family.levels.iter().all(|&c| {
            cells
                .get(c)
                .is_some_and(|s| s.mastered(self.mastery(), EXHAUSTED_MIN_GROUPS))
        })
    }

    /// Whether it ever leaves the start level (preflight refuses a mastered start only for a
    /// strategy that does not: it could never learn anything).
    fn moves(&self) -> bool {
        true
    }
}

/// Groups a level needs before the default [`Strategy::exhausted`] counts it mastered (the
/// `frontier` default of `min_groups`).
pub const EXHAUSTED_MIN_GROUPS: u64 = 24;

/// A cell a strategy asks the curriculum to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCell {
    /// Ladder position it sits below: between `family.levels[position - 1]` and
    /// `family.levels[position]`.
    pub position: usize,
    /// Its knobs (overrides of the family's defaults).
    pub knobs: Knobs,
    /// Its label in statistics and logs (`L3+a_digits=3`).
    pub label: String,
}

/// The `[tasks.curriculum]` parameters of one strategy (every key but `type`), and how to build
/// the strategy for one family from them.
///
/// Declare it `#[serde(default, deny_unknown_fields)]` with a `Default` impl holding every
/// default: the parameters then reject unknown keys, and a run's resolved config lists every
/// key with its value.
pub trait StrategyConfig: Serialize + DeserializeOwned + 'static {
    /// The strategy this builds.
    type Strategy: Strategy + Clone + fmt::Debug + Serialize + DeserializeOwned + 'static;

    /// Checks values beyond their types; errors name the key (`curriculum.promote`) and value.
    fn validate(&self) -> Result<()> {
        Ok(())
    }

    /// A fresh strategy for `family`.
    fn build(&self, family: &FamilyCells) -> Self::Strategy;
}

/// Curriculum strategies by name: what `[tasks.curriculum] type = "name"` selects. A value, held
/// by the [`crate::Registry`]; [`Strategies::builtin`] has `fixed`, `uniform`, `ladder`, `frontier`
/// `learnability` and `evolve`.
#[derive(Clone, Default)]
pub struct Strategies {
    kinds: Vec<(String, Arc<dyn Kind>)>,
}

impl fmt::Debug for Strategies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Strategies {
    /// The five built-in strategies.
    pub fn builtin() -> Self {
        let mut s = Self::empty();
        s.register::<super::FixedConfig>("fixed");
        s.register::<super::UniformConfig>("uniform");
        s.register::<super::LadderConfig>("ladder");
        s.register::<super::FrontierConfig>("frontier");
        s.register::<super::LearnabilityConfig>("learnability");
        s.register::<super::EvolveCurriculumConfig>(super::EVOLVE);
        s
    }

    /// No strategy.
    pub fn empty() -> Self {
        Self { kinds: Vec::new() }
    }

    /// Adds (or replaces, by name) the strategy that `type = "name"` selects, with parameters `C`.
    pub fn register<C: StrategyConfig>(&mut self, name: impl Into<String>) {
        let name = name.into();
        self.kinds.retain(|(n, _)| *n != name);
        self.kinds.push((name, Arc::new(Typed::<C>(PhantomData))));
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> Vec<&str> {
        self.kinds.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// `config` with every parameter of its strategy set (defaults filled in), after checking
    /// the name, the keys and the values.
    pub fn resolve(&self, config: &CurriculumConfig) -> Result<CurriculumConfig> {
        let params = self
            .kind(config.kind())?
            .resolve(config.kind(), config.params())?;
        Ok(CurriculumConfig::from_parts(config.kind(), params))
    }

    /// A fresh strategy of `config`'s kind for `family`.
    pub(crate) fn build(&self, config: &CurriculumConfig, family: &FamilyCells) -> Result<Slot> {
        let strategy = self
            .kind(config.kind())?
            .build(config.kind(), config.params(), family)?;
        Ok(Slot {
            kind: config.kind().to_string(),
            strategy,
        })
    }

    /// The strategy saved as `saved` (what a [`Slot`] serialises to).
    pub(crate) fn restore(&self, saved: Value) -> Result<Slot> {
        let bad = |detail: String| TasksError::StrategyState { detail };
        let Value::Object(mut state) = saved else {
            return Err(bad(format!("not a JSON object: {saved}")));
        };
        let kind = match state.remove("type") {
            Some(Value::String(kind)) => kind,
            _ => return Err(bad("no `type` naming the strategy".into())),
        };
        let strategy = self.kind(&kind)?.restore(&kind, state)?;
        Ok(Slot { kind, strategy })
    }

    fn kind(&self, name: &str) -> Result<&dyn Kind> {
        self.kinds
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| k.as_ref())
            .ok_or_else(|| TasksError::UnknownStrategy {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }
}

/// One family's strategy and the name it was built by: what the curriculum holds, and saves as
/// `{"type": name, ..its state}`.
#[derive(Debug)]
pub(crate) struct Slot {
    kind: String,
    strategy: Box<dyn Stored>,
}

impl Slot {
    /// The name it was built by.
    pub(crate) fn kind(&self) -> &str {
        &self.kind
    }

    /// The strategy.
    pub(crate) fn get(&self) -> &dyn Strategy {
        self.strategy.as_strategy()
    }

    /// The strategy, mutably.
    pub(crate) fn get_mut(&mut self) -> &mut dyn Strategy {
        self.strategy.as_strategy_mut()
    }

    /// The saved form: `{"type": name, ..state}`.
    fn save(&self) -> std::result::Result<Value, String> {
        let state = self.strategy.save().map_err(|e| e.to_string())?;
        let mut out = Map::new();
        out.insert("type".into(), Value::String(self.kind.clone()));
        match state {
            Value::Object(fields) => {
                for (k, v) in fields {
                    if k == "type" {
                        return Err(format!(
                            "strategy {}: a state field named `type`",
                            self.kind
                        ));
                    }
                    out.insert(k, v);
                }
            }
            other => {
                return Err(format!(
                    "strategy {}: its state must serialise as a JSON object, not {other}",
                    self.kind
                ))
            }
        }
        Ok(Value::Object(out))
    }
}

impl Clone for Slot {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind.clone(),
            strategy: self.strategy.clone_box(),
        }
    }
}

impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.save().ok() == other.save().ok()
    }
}

impl Serialize for Slot {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.save().map_err(serde::ser::Error::custom)?.serialize(s)
    }
}

/// A strategy the curriculum can clone and save without knowing its type.
trait Stored: fmt::Debug + Send + Sync {
    fn as_strategy(&self) -> &dyn Strategy;
    fn as_strategy_mut(&mut self) -> &mut dyn Strategy;
    fn save(&self) -> serde_json::Result<Value>;
    fn clone_box(&self) -> Box<dyn Stored>;
}

impl<S: Strategy + Clone + fmt::Debug + Serialize + 'static> Stored for S {
    fn as_strategy(&self) -> &dyn Strategy {
        self
    }
    fn as_strategy_mut(&mut self) -> &mut dyn Strategy {
        self
    }
    fn save(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }
    fn clone_box(&self) -> Box<dyn Stored> {
        Box::new(self.clone())
    }
}

/// A registered strategy with its parameter type erased.
trait Kind: Send + Sync {
    fn resolve(&self, name: &str, params: &Map<String, Value>) -> Result<Map<String, Value>>;
    fn build(
        &self,
        name: &str,
        params: &Map<String, Value>,
        family: &FamilyCells,
    ) -> Result<Box<dyn Stored>>;
    fn restore(&self, name: &str, state: Map<String, Value>) -> Result<Box<dyn Stored>>;
}

struct Typed<C>(PhantomData<fn() -> C>);

impl<C: StrategyConfig> Typed<C> {
    /// The parameters read into `C` (unknown keys and wrong types rejected, naming the key) and
    /// validated.
    fn config(name: &str, params: &Map<String, Value>) -> Result<C> {
        let config: C =
            serde_path_to_error::deserialize(Value::Object(params.clone())).map_err(|e| {
                let path = e.path().to_string();
                TasksError::StrategyParams {
                    strategy: name.to_string(),
                    key: if path == "." {
                        "curriculum".into()
                    } else {
                        format!("curriculum.{path}")
                    },
                    detail: e.into_inner().to_string(),
                }
            })?;
        config.validate()?;
        Ok(config)
    }
}

impl<C: StrategyConfig> Kind for Typed<C> {
    fn resolve(&self, name: &str, params: &Map<String, Value>) -> Result<Map<String, Value>> {
        let config = Self::config(name, params)?;
        match serde_json::to_value(&config) {
            Ok(Value::Object(full)) => Ok(full),
            Ok(other) => Err(TasksError::StrategyParams {
                strategy: name.to_string(),
                key: "curriculum".into(),
                detail: format!("parameters must serialise as a table, not {other}"),
            }),
            Err(e) => Err(TasksError::StrategyParams {
                strategy: name.to_string(),
                key: "curriculum".into(),
                detail: e.to_string(),
            }),
        }
    }

    fn build(
        &self,
        name: &str,
        params: &Map<String, Value>,
        family: &FamilyCells,
    ) -> Result<Box<dyn Stored>> {
        Ok(Box::new(Self::config(name, params)?.build(family)))
    }

    fn restore(&self, name: &str, state: Map<String, Value>) -> Result<Box<dyn Stored>> {
        let strategy: C::Strategy = serde_json::from_value(Value::Object(state)).map_err(|e| {
            TasksError::StrategyState {
                detail: format!("strategy {name}: {e}"),
            }
        })?;
        Ok(Box::new(strategy))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde::Deserialize;

    use super::*;
    use crate::config::{FamilyConfig, TasksConfig};
    use crate::curriculum::{Curriculum, CurriculumState};
    use crate::family::tests::Echo;
    use crate::family::Registry;
    use crate::task::Verdict;

    /// `type = "grow"`: always the newest cell; after each group it proposes a cell at
    /// `n = step` (one the curriculum already has, one out of range, and a new one).
    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct GrowConfig {
        step: u32,
    }

    impl StrategyConfig for GrowConfig {
        type Strategy = Grow;

        fn build(&self, _family: &FamilyCells) -> Grow {
            Grow {
                step: self.step,
                proposed: 0,
            }
        }
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct Grow {
        step: u32,
        proposed: u32,
    }

    impl Strategy for Grow {
        fn choose(
            &mut self,
            family: &FamilyCells,
            _cells: &[CellStats],
            _rng: &mut TaskRng,
        ) -> usize {
            family
                .all()
                .map(|(_, c)| c)
                .max()
                .unwrap_or(family.levels[0])
        }

        fn propose(&mut self, _family: &FamilyCells, _cells: &[CellStats]) -> Vec<NewCell> {
            self.proposed += 1;
            let n = (10 + self.step * self.proposed) as f64;
            let cell = |n: f64, label: &str| NewCell {
                position: 2,
                knobs: Knobs::from_static(&[("n", n)]),
                label: label.to_string(),
            };
            vec![
                cell(2.0, "known"),
                cell(1000.0, "out of range"),
                cell(n, &format!("n={n}")),
            ]
        }
    }

    fn setup() -> (Arc<Registry>, TasksConfig) {
        let mut reg = Registry::builtin();
        reg.register(Box::new(Echo::new(1, "n")));
        reg.register_strategy::<GrowConfig>("grow");
        let config = TasksConfig {
            families: vec![FamilyConfig {
                name: "echo_1".into(),
                levels: [1, 2],
                ..FamilyConfig::default()
            }],
            curriculum: CurriculumConfig::new("grow", &GrowConfig { step: 5 }).unwrap(),
            ..TasksConfig::default()
        };
        (Arc::new(reg), config)
    }

    fn step(c: &mut Curriculum) -> Vec<String> {
        let tasks = c.next_tasks(1);
        for t in &tasks {
            c.observe(t, &[Verdict::correct("1"), Verdict::unparseable("")]);
        }
        tasks.into_iter().map(|t| t.prompt).collect()
    }

    #[test]
    fn a_registered_strategy_chooses_adds_valid_new_cells_and_restores() {
        let (reg, config) = setup();
        let mut c = Curriculum::new(&config, reg.clone(), 0, HashSet::new()).unwrap();
        let prompts: Vec<String> = (0..3).flat_map(|_| step(&mut c)).collect();
        // The newest cell each time: level 2 (n = 2), then n = 15, then n = 20.
        assert_eq!(prompts, ["echo 2:", "echo 15:", "echo 20:"]);
        let labels: Vec<&str> = c.stats().iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["L1", "L2", "n=15", "n=20", "n=25"]);
        assert!(c.stats()[2..].iter().all(|s| s.level.is_none()));
        assert_eq!(c.families()[0].extras, [(2, 2), (2, 3), (2, 4)]);

        let saved = serde_json::to_value(&c).unwrap();
        assert_eq!(
            saved["strategies"][0],
            serde_json::json!({"type": "grow", "step": 5, "proposed": 3})
        );
        let state: CurriculumState = serde_json::from_value(saved.clone()).unwrap();
        let mut back = Curriculum::restore(state, reg).unwrap();
        assert_eq!(back, c);
        assert_eq!(step(&mut back), step(&mut c));

        // The registry must know the strategy (and the family) to restore it.
        let mut without = Registry::builtin();
        without.register(Box::new(Echo::new(1, "n")));
        let state: CurriculumState = serde_json::from_value(saved).unwrap();
        let e = Curriculum::restore(state, Arc::new(without))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"grow\"") && e.contains("frontier"), "{e}");
    }

    #[test]
    fn parameters_are_read_into_the_strategys_own_struct() {
        let (reg, mut config) = setup();
        config.curriculum = CurriculumConfig::named("grow");
        assert_eq!(
            reg.strategies()
                .resolve(&config.curriculum)
                .unwrap()
                .params()["step"],
            0
        );
        let mut params = Map::new();
        params.insert("stepp".into(), 1.into());
        config.curriculum = CurriculumConfig::new("grow", &params).unwrap();
        let e = Curriculum::new(&config, reg, 0, HashSet::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tasks.curriculum") && e.contains("`stepp`") && e.contains("`step`"),
            "{e}"
        );
    }

    #[test]
    fn a_state_that_is_not_an_object_is_an_error_not_a_panic() {
        #[derive(Debug, Clone, Serialize)]
        struct Bare(u32);
        impl Strategy for Bare {
            fn choose(&mut self, f: &FamilyCells, _: &[CellStats], _: &mut TaskRng) -> usize {
                f.levels[0]
            }
        }
        let slot = Slot {
            kind: "bare".into(),
            strategy: Box::new(Bare(1)),
        };
        let e = serde_json::to_string(&slot).unwrap_err().to_string();
        assert!(e.contains("bare") && e.contains("JSON object"), "{e}");
        let e = Strategies::builtin()
            .restore(serde_json::json!({"kind": "fixed"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("type"), "{e}");
    }
}
