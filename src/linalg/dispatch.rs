//! The crate's one CPU-feature dispatch: which instruction-set [`Level`] this CPU has
//! (detected once), and [`widest_simd!`], which compiles a body once per level and runs the
//! widest the CPU has.
//!
//! Plain-Rust hot loops are vectorised by the compiler only as wide as it may assume, so the
//! coders' block solvers and the dictionary sweep are compiled three times through the
//! macro. Kernels written with AVX-512 intrinsics (the CNN's implicit GEMM, the homotopy's
//! candidate pass) ask [`Level::detected`] whether to run them, and otherwise run their
//! portable loops in the same order. Every user's results are fixed by the level alone,
//! which is the same on every run on one machine.

use std::sync::OnceLock;

/// An instruction-set level, from the narrowest up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Whatever the build targets (SSE2 on x86-64).
    Portable,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512 F and VL (with AVX2 and FMA, which every such CPU has).
    Avx512,
}

impl Level {
    /// The widest level this CPU runs, detected on the first call.
    pub fn detected() -> Level {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(detect)
    }

    /// Whether this CPU runs the AVX-512 kernels.
    pub fn avx512() -> bool {
        Self::detected() == Level::Avx512
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    use std::arch::is_x86_feature_detected as has;
    if has!("avx512f") && has!("avx512vl") && has!("avx2") && has!("fma") {
        Level::Avx512
    } else if has!("avx2") && has!("fma") {
        Level::Avx2
    } else {
        Level::Portable
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Portable
}

/// `widest_simd!(unsafe fn name(arg: Type, ...) -> Ret { body })` is an expression: it
/// compiles `body` as a function once per [`Level`] (with `#[target_feature]` for AVX-512
/// and AVX2), calls the one for [`Level::detected`] with the listed arguments, and yields its
/// result. The functions are `unsafe` because target-feature functions are; the macro
/// checks the CPU, and the caller upholds whatever else the body needs. The body should call
/// `#[inline(always)]` code, so that the hot loops are compiled inside each copy.
macro_rules! widest_simd {
    (unsafe fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? $body
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? $body
            unsafe fn $name($($arg: $ty),*) $(-> $ret)? $body
            match $crate::linalg::dispatch::Level::detected() {
                // SAFETY: the CPU has the features; the caller upholds the rest.
                $crate::linalg::dispatch::Level::Avx512 => unsafe { avx512($($arg),*) },
                // SAFETY: as above.
                $crate::linalg::dispatch::Level::Avx2 => unsafe { avx2($($arg),*) },
                // SAFETY: the caller upholds the contract.
                $crate::linalg::dispatch::Level::Portable => unsafe { $name($($arg),*) },
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            unsafe fn $name($($arg: $ty),*) $(-> $ret)? $body
            // SAFETY: the caller upholds the contract.
            unsafe { $name($($arg),*) }
        }
    }};
}
pub(crate) use widest_simd;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_is_stable_and_ordered() {
        let level = Level::detected();
        assert_eq!(level, Level::detected());
        assert_eq!(Level::avx512(), level == Level::Avx512);
        assert!(Level::Portable < Level::Avx2 && Level::Avx2 < Level::Avx512);
    }

    #[test]
    fn every_copy_computes_the_same_sum() {
        // A sum of small integers is exact, so the copy the CPU picks cannot change it.
        let values: Vec<f32> = (0..1000).map(|i| (i % 17) as f32).collect();
        let v = &values[..];
        let total = widest_simd!(
            unsafe fn sum(v: &[f32]) -> f32 {
                v.iter().sum()
            }
        );
        let plain: f32 = values.iter().sum();
        assert_eq!(total, plain);
    }
}
