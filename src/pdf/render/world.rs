//! The Typst `World` a contract is compiled in: the fonts shipped with the binary, one main
//! source, and the record as `data.json`. Nothing is read from disk or the network.

use std::sync::LazyLock;
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

/// Fonts: Libertinus Serif (Typst's assets) and DejaVu Sans (shipped in `assets/fonts`), both
/// covering Latin, Greek and Cyrillic; Dancing Script for typed signatures.
static FONTS: LazyLock<(LazyHash<FontBook>, Vec<Font>)> = LazyLock::new(|| {
    let shipped: [&'static [u8]; 5] = [
        include_bytes!("../../../assets/fonts/DejaVuSans.ttf"),
        include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf"),
        include_bytes!("../../../assets/fonts/DejaVuSans-Oblique.ttf"),
        include_bytes!("../../../assets/fonts/DejaVuSans-BoldOblique.ttf"),
        include_bytes!("../../../assets/fonts/DancingScript-Regular.ttf"),
    ];
    let fonts: Vec<Font> = typst_assets::fonts()
        .chain(shipped)
        .flat_map(|data| Font::iter(Bytes::new(data)))
        .collect();
    let book = FontBook::from_fonts(&fonts);
    (LazyHash::new(book), fonts)
});

static LIBRARY: LazyLock<LazyHash<Library>> =
    LazyLock::new(|| LazyHash::new(Library::builder().build()));

fn file_id(path: &str) -> FileId {
    // The paths are fixed, absolute and valid.
    let vpath =
        VirtualPath::new(path).unwrap_or_else(|_| unreachable!("{path} is a valid virtual path"));
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

/// One compilation's world.
pub struct ContractWorld {
    main: Source,
    files: Vec<(FileId, Bytes)>,
    today: Datetime,
}

impl ContractWorld {
    pub fn new(source: String, data_json: Vec<u8>, today: chrono::NaiveDate) -> Self {
        Self::with_files(source, vec![("/data.json".into(), data_json)], today)
    }

    /// A world whose source can read the given in-memory files (absolute virtual paths).
    pub fn with_files(
        source: String,
        files: Vec<(String, Vec<u8>)>,
        today: chrono::NaiveDate,
    ) -> Self {
        use chrono::Datelike;
        let main = Source::new(file_id("/main.typ"), source);
        Self {
            main,
            files: files
                .into_iter()
                .map(|(path, bytes)| (file_id(&path), Bytes::new(bytes)))
                .collect(),
            today: Datetime::from_ymd(today.year(), today.month() as u8, today.day() as u8)
                .unwrap_or_else(|| unreachable!("a chrono date is a valid date")),
        }
    }

    pub fn main_source(&self) -> &Source {
        &self.main
    }

    /// Forces the fonts to load (so a first render is not slower than the next).
    pub fn warm_up() {
        LazyLock::force(&FONTS);
        LazyLock::force(&LIBRARY);
    }
}

impl World for ContractWorld {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.0
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::AccessDenied)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.files
            .iter()
            .find(|(file, _)| *file == id)
            .map(|(_, bytes)| bytes.clone())
            .ok_or(FileError::AccessDenied)
    }

    fn font(&self, index: usize) -> Option<Font> {
        FONTS.1.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        Some(self.today)
    }
}
