//! A FlatBuffers schema as the C API generator sees it: read from the
//! binary schema (`.bfbs`) the pinned flatc makes, through the reflection
//! tables, so no hand-written `.fbs` parser is involved.

use flatbuffers_reflection::reflection::{self, BaseType};

/// One enum: its short name, underlying width, values and documentation.
pub(crate) struct Enum {
    pub(crate) name: String,
    pub(crate) doc: Vec<String>,
    pub(crate) values: Vec<EnumValue>,
}

/// One enum value.
pub(crate) struct EnumValue {
    pub(crate) name: String,
    pub(crate) value: i64,
    pub(crate) doc: Vec<String>,
}

/// One table, with its fields in declaration order.
pub(crate) struct Table {
    pub(crate) name: String,
    pub(crate) doc: Vec<String>,
    pub(crate) fields: Vec<Field>,
}

/// One table field.
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) doc: Vec<String>,
    pub(crate) kind: FieldKind,
}

/// The integer types the C API maps one to one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Int {
    U8,
    U16,
    U32,
    U64,
}

impl Int {
    /// The Rust type.
    pub(crate) fn rust(self) -> &'static str {
        match self {
            Int::U8 => "u8",
            Int::U16 => "u16",
            Int::U32 => "u32",
            Int::U64 => "u64",
        }
    }

    /// The C type.
    pub(crate) fn c(self) -> &'static str {
        match self {
            Int::U8 => "uint8_t",
            Int::U16 => "uint16_t",
            Int::U32 => "uint32_t",
            Int::U64 => "uint64_t",
        }
    }
}

/// What a field holds, in the shapes ipc.fbs uses.
pub(crate) enum FieldKind {
    /// An unsigned integer.
    Int(Int),
    /// A bool (0 or 1 in C).
    Bool,
    /// An enum value (its underlying `ubyte` in C).
    Enum(String),
    /// A string.
    Text,
    /// A `[ubyte]`.
    Bytes,
    /// A `[string]`.
    Texts,
    /// A vector of unsigned integers.
    Ints(Int),
    /// A vector of tables.
    Tables(String),
}

/// A schema's enums and tables.
pub(crate) struct Schema {
    pub(crate) enums: Vec<Enum>,
    pub(crate) tables: Vec<Table>,
}

fn short(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_owned()
}

fn doc<'a, L: IntoIterator<Item = &'a str>>(lines: Option<L>) -> Vec<String> {
    lines
        .map(|lines| {
            lines
                .into_iter()
                .map(|line| line.strip_prefix(' ').unwrap_or(line).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn int(base: BaseType) -> Option<Int> {
    match base {
        BaseType::UByte => Some(Int::U8),
        BaseType::UShort => Some(Int::U16),
        BaseType::UInt => Some(Int::U32),
        BaseType::ULong => Some(Int::U64),
        _ => None,
    }
}

impl Schema {
    /// Reads a binary schema made with `flatc -b --schema --bfbs-comments`.
    pub(crate) fn from_bfbs(bytes: &[u8]) -> Result<Self, String> {
        let schema = reflection::root_as_schema(bytes).map_err(|error| error.to_string())?;
        let enums: Vec<Enum> = schema
            .enums()
            .iter()
            .map(|item| Enum {
                name: short(item.name()),
                doc: doc(item.documentation()),
                values: item
                    .values()
                    .iter()
                    .map(|value| EnumValue {
                        name: value.name().to_owned(),
                        value: value.value(),
                        doc: doc(value.documentation()),
                    })
                    .collect(),
            })
            .collect();
        let object_name = |index: i32| -> Result<String, String> {
            usize::try_from(index)
                .ok()
                .filter(|&index| index < schema.objects().len())
                .map(|index| short(schema.objects().get(index).name()))
                .ok_or_else(|| format!("no object {index}"))
        };
        let mut tables = Vec::new();
        for object in schema.objects() {
            if object.is_struct() {
                return Err(format!("{}: structs are not supported", object.name()));
            }
            let mut fields: Vec<_> = object.fields().iter().collect();
            fields.sort_by_key(|field| field.id());
            let mut out = Vec::new();
            for field in fields {
                let ty = field.type_();
                let unsupported =
                    || format!("{}.{}: unsupported type", object.name(), field.name());
                let kind = match ty.base_type() {
                    BaseType::Bool => FieldKind::Bool,
                    BaseType::String => FieldKind::Text,
                    BaseType::Vector => match ty.element() {
                        BaseType::UByte => FieldKind::Bytes,
                        BaseType::String => FieldKind::Texts,
                        BaseType::Obj => FieldKind::Tables(object_name(ty.index())?),
                        element => FieldKind::Ints(int(element).ok_or_else(unsupported)?),
                    },
                    base => {
                        let width = int(base).ok_or_else(unsupported)?;
                        match usize::try_from(ty.index()) {
                            Ok(index) if index < enums.len() => {
                                if width != Int::U8 {
                                    return Err(unsupported());
                                }
                                FieldKind::Enum(enums[index].name.clone())
                            }
                            _ => FieldKind::Int(width),
                        }
                    }
                };
                out.push(Field {
                    name: field.name().to_owned(),
                    doc: doc(field.documentation()),
                    kind,
                });
            }
            tables.push(Table {
                name: short(object.name()),
                doc: doc(object.documentation()),
                fields: out,
            });
        }
        Ok(Schema { enums, tables })
    }

    /// Whether `table` is a part of other tables (a vector element) rather
    /// than an event of its own.
    pub(crate) fn is_part(&self, table: &str) -> bool {
        self.tables.iter().any(|other| {
            other
                .fields
                .iter()
                .any(|field| matches!(&field.kind, FieldKind::Tables(name) if name == table))
        })
    }
}

/// `ListenRequest` -> `listen_request`.
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::new();
    for (index, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if index > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

/// `ConnectFailure`, `InvalidRequest` -> `CONNECT_FAILURE_INVALID_REQUEST`.
pub(crate) fn screaming(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|part| snake(part).to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join("_")
}
