//! Domain enums that are stored and exchanged by name.

/// Declares a domain enum whose values have stable upper-case names (the names
/// API.md gives, e.g. `HOTLINE_12345`): `as_str`, `parse` and `ALL`.
///
/// The protobuf enums carry the same names with their type prefix
/// (`CHANNEL_HOTLINE_12345`), so converting at a service's edge is a matter of
/// stripping the prefix; the database stores the plain name.
#[macro_export]
macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Converts a protobuf enum value to the domain enum of the same names:
/// `CHANNEL_HOTLINE_12345` with prefix `CHANNEL_` becomes `HOTLINE_12345`.
/// `None` for the unspecified value and for numbers the contract does not know.
pub fn from_proto_name<T>(
    proto_name: Option<&str>,
    prefix: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Option<T> {
    proto_name
        .and_then(|name| name.strip_prefix(prefix))
        .and_then(parse)
}

/// Conversions between a domain enum declared with [`named_enum!`] and the
/// protobuf enum of the same names: `$from(i32) -> Option<$domain>` (`None`
/// for the unspecified value and unknown numbers) and `$to($domain) -> i32`.
#[macro_export]
macro_rules! proto_enum_conversions {
    ($domain:ident, $proto:ty, $prefix:literal, $from:ident, $to:ident) => {
        /// The domain value of a protobuf enum number; `None` when unspecified or unknown.
        pub fn $from(value: i32) -> Option<$domain> {
            $crate::names::from_proto_name(
                <$proto>::try_from(value).ok().map(|v| v.as_str_name()),
                $prefix,
                $domain::parse,
            )
        }

        pub fn $to(value: $domain) -> i32 {
            <$proto>::from_str_name(&format!("{}{}", $prefix, value.as_str()))
                .map_or(0, |v| v as i32)
        }
    };
}
