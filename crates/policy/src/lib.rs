//! A small Llama-style decoder on candle for RLVR: token ids in, token ids and log-probs out.
//!
//! In pipeline order: [`ModelConfig`] (Hugging Face `config.json`) and [`Tokenizer`] describe a
//! model; [`Policy`] holds its weights (Hugging Face names, `model.safetensors`), optional named
//! [`LoraConfig`] adapters (PEFT format) and a device; [`Policy::sample`] draws G completions per
//! prompt with a shared-prefill KV cache ([`SampleParams`] -> [`Rollouts`]);
//! [`Policy::completion_logprobs`] scores completions with gradients ([`TokenLogProbs`]).
//!
//! Two forwards share the weights: `model.rs` is the differentiable one, used for log-probs and
//! training; on the CPU it runs our fused ops with their own backward (`train_ops/`,
//! `causal_attention.rs`: candle's own fused RMSNorm/RoPE/softmax drop gradients silently), and
//! the composite candle ops elsewhere and as the test oracle (`kernels.rs` holds the switch).
//! `inference.rs` is the sampling-only one
//! (weights merged once per call, fused kernels, `decode_attention.rs` and `swiglu.rs` custom
//! ops, KV caches written in place). Hot loops run inside rayon's pool
//! ([`run_in_thread_pool`]); the CPU thread count is [`set_num_threads`] (default 1).
//!
//! ```
//! use policy::{ModelConfig, Policy, SampleParams, Tokenizer};
//! use rand::SeedableRng;
//! let tok = Tokenizer::builtin();
//! let config = ModelConfig { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1,
//!     num_attention_heads: 2, ..ModelConfig::default() };
//! let policy = Policy::init(&config, tok.clone(), 0, &candle_core::Device::Cpu)?;
//! let prompt = tok.encode_prompt("1+1=")?; // BOS first: the tokenizer's post-processor adds it
//! let params = SampleParams { max_new_tokens: 4, ..SampleParams::default() };
//! let out = policy.sample(&[prompt], 2, &params, &mut rand::rngs::StdRng::seed_from_u64(0))?;
//! assert_eq!(out.tokens.len(), 2);
//! # Ok::<(), policy::Error>(())
//! ```
#![deny(missing_docs)]

mod causal_attention;
mod config;
mod cpu;
mod decode_attention;
mod dense;
mod device;
mod error;
#[cfg(test)]
mod half_precision_tests;
mod hf;
mod inference;
mod kernels;
mod kv_cache;
mod logprobs;
mod lora;
mod lora_linear;
mod model;
mod policy;
mod sampler;
mod strided_gemm;
mod swiglu;
mod tokenizer;
mod train_ops;

pub use candle_core::{DType, Device, Tensor, Var};
pub use config::ModelConfig;
pub use device::{num_threads, run_in_thread_pool, set_num_threads, DeviceSpec, Precision};
pub use error::{Error, Result, Sequence};
pub use hf::{
    CONFIG_FILE, GENERATION_CONFIG_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE,
};
pub use logprobs::TokenLogProbs;
pub use lora::{adapter_base_model, LoraConfig, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE};
pub use policy::{AdapterMode, Policy};
pub use sampler::{Rollouts, SampleParams, SampleTimings, StopReason};
pub use tokenizer::Tokenizer;
