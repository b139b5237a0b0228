//! The five levels of 好差评 (GB/T 39734-2020), in the names of evaluation's
//! contract: enterprises rate departments and windows with them, rate policies
//! with them, and scoring counts them.

use zhengqi_proto::zhengqi::evaluation::v1 as pb;

use crate::{named_enum, proto_enum_conversions};

named_enum! {
    /// A rating, worst first.
    pub enum Rating {
        /// 非常不满意.
        VeryDissatisfied = "VERY_DISSATISFIED",
        /// 不满意.
        Dissatisfied = "DISSATISFIED",
        /// 基本满意.
        BasicSatisfied = "BASIC_SATISFIED",
        /// 满意.
        Satisfied = "SATISFIED",
        /// 非常满意.
        VerySatisfied = "VERY_SATISFIED",
    }
}

impl Rating {
    /// A bad review (差评): DISSATISFIED and below.
    pub fn is_bad(self) -> bool {
        matches!(self, Rating::VeryDissatisfied | Rating::Dissatisfied)
    }

    /// Counted as satisfied (the 好评率): BASIC_SATISFIED or better.
    pub fn is_good(self) -> bool {
        !self.is_bad()
    }

    /// 1 for VERY_DISSATISFIED up to 5 for VERY_SATISFIED.
    pub fn score(self) -> i64 {
        match self {
            Rating::VeryDissatisfied => 1,
            Rating::Dissatisfied => 2,
            Rating::BasicSatisfied => 3,
            Rating::Satisfied => 4,
            Rating::VerySatisfied => 5,
        }
    }
}

proto_enum_conversions!(Rating, pb::Rating, "RATING_", rating, rating_to_proto);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dissatisfied_and_below_are_bad_reviews() {
        assert!(Rating::VeryDissatisfied.is_bad());
        assert!(Rating::Dissatisfied.is_bad());
        assert!(Rating::BasicSatisfied.is_good());
        assert_eq!(Rating::VerySatisfied.score(), 5);
        assert_eq!(
            rating(pb::Rating::Dissatisfied as i32),
            Some(Rating::Dissatisfied)
        );
        assert_eq!(rating(0), None);
        assert_eq!(
            rating_to_proto(Rating::Satisfied),
            pb::Rating::Satisfied as i32
        );
    }
}
