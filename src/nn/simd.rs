//! Run-time selection of a SIMD build of a kernel (AVX-512F, AVX2 + FMA, or portable), shared by
//! the token projection ([`super::token_proj`]) and the word-vector trainer.

/// Calls the `#[inline(always)]` kernel `$f` compiled for AVX-512F, or for AVX2 + FMA, when
/// the CPU has them (detected at run time), else its portable build: each wrapper gets its own
/// vectorized copy of the kernel. Expands to the body of the calling function, whose parameters
/// are the listed ones.
macro_rules! simd_dispatch {
    ($f:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx512($($arg: $ty),*) {
                $f($($arg),*)
            }
            #[target_feature(enable = "avx2,fma")]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx2($($arg: $ty),*) {
                $f($($arg),*)
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F (checked just above).
                return unsafe { avx512($($arg),*) };
            } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                return unsafe { avx2($($arg),*) };
            }
        }
        $f($($arg),*)
    }};
}

pub(crate) use simd_dispatch;

/// Defines the function `$name` with the given parameters and body: the body becomes an
/// `#[inline(always)]` kernel that [`simd_dispatch!`] runs compiled for the instruction set the
/// CPU has (the signature is written once).
macro_rules! simd_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident ( $($arg:ident : $ty:ty),* $(,)? ) $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn kernel($($arg: $ty),*) $body
            $crate::nn::simd::simd_dispatch!(kernel($($arg: $ty),*))
        }
    };
}

pub(crate) use simd_fn;
