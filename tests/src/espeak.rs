//! Where espeak-ng puts each phone of a word: its library's phoneme events
//! (the command line prints no times), loaded at run time from
//! `libespeak-ng.so.1` (the espeak-ng package installs it; no headers).

use crate::speech::{Phone, Voice};
use std::ffi::{c_char, c_int, c_short, c_uint, c_void, CString};
use std::sync::Mutex;

/// `espeak_EVENT` from speak_lib.h (x86_64 and aarch64 layout).
#[repr(C)]
struct Event {
    kind: c_int,
    unique_identifier: c_uint,
    text_position: c_int,
    length: c_int,
    /// Milliseconds from the start of the synthesis.
    audio_position: c_int,
    sample: c_int,
    user_data: *mut c_void,
    /// For a phoneme event, its mnemonic, NUL-padded.
    id: [u8; 8],
}

const EVENT_LIST_TERMINATED: c_int = 0;
const EVENT_PHONEME: c_int = 7;
const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const INITIALIZE_PHONEME_EVENTS: c_int = 0x0001;
const RATE: c_int = 1;
const PITCH: c_int = 3;
const POS_CHARACTER: c_int = 1;
const CHARS_UTF8: c_uint = 1;
const END_PAUSE: c_uint = 0x1000;

type Callback = extern "C" fn(*mut c_short, c_int, *mut Event) -> c_int;

/// `espeak_VOICE` from speak_lib.h.
#[repr(C)]
struct VoiceSelect {
    name: *const c_char,
    languages: *const c_char,
    identifier: *const c_char,
    gender: u8,
    age: u8,
    variant: u8,
    xx1: u8,
    score: c_int,
    spare: *mut c_void,
}

type Initialize = extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int;
type SetCallback = extern "C" fn(Callback);
type SetVoice = extern "C" fn(*const c_char) -> c_int;
type SetVoiceByProperties = extern "C" fn(*const VoiceSelect) -> c_int;
type SetParameter = extern "C" fn(c_int, c_int, c_int) -> c_int;
type Synth = extern "C" fn(
    *const c_void,
    usize,
    c_uint,
    c_int,
    c_uint,
    c_uint,
    *mut c_uint,
    *mut c_void,
) -> c_int;
type Synchronize = extern "C" fn() -> c_int;

struct Library {
    set_voice_by_properties: SetVoiceByProperties,
    set_voice: SetVoice,
    set_parameter: SetParameter,
    synth: Synth,
    synchronize: Synchronize,
}

/// What the callback collects: samples, and (ms, mnemonic) per phone.
struct Heard {
    samples: Vec<i16>,
    phones: Vec<(i32, String)>,
}

static HEARD: Mutex<Option<Heard>> = Mutex::new(None);
/// The library keeps global state: one synthesis at a time.
static LIBRARY: Mutex<Option<Library>> = Mutex::new(None);

extern "C" fn collect(wav: *mut c_short, count: c_int, events: *mut Event) -> c_int {
    let mut heard = HEARD.lock().unwrap_or_else(|e| e.into_inner());
    let Some(heard) = heard.as_mut() else {
        return 1;
    };
    if !wav.is_null() && count > 0 {
        // SAFETY: espeak-ng hands `count` samples at `wav` for this call.
        let samples = unsafe { std::slice::from_raw_parts(wav, count as usize) };
        heard.samples.extend_from_slice(samples);
    }
    let mut event = events;
    // SAFETY: the event list ends with an EVENT_LIST_TERMINATED entry.
    while !event.is_null() && unsafe { (*event).kind } != EVENT_LIST_TERMINATED {
        let e = unsafe { &*event };
        if e.kind == EVENT_PHONEME {
            let end = e.id.iter().position(|&b| b == 0).unwrap_or(8);
            let name = String::from_utf8_lossy(&e.id[..end]).into_owned();
            heard.phones.push((e.audio_position, name));
        }
        event = unsafe { event.add(1) };
    }
    0
}

fn open() -> Library {
    let name = CString::new("libespeak-ng.so.1").expect("library name");
    // SAFETY: plain dlopen/dlsym; the symbols' types are speak_lib.h's.
    unsafe {
        let handle = libc::dlopen(name.as_ptr(), libc::RTLD_NOW);
        assert!(
            !handle.is_null(),
            "libespeak-ng.so.1 not found (apt-get install espeak-ng)"
        );
        let sym = |s: &str| {
            let c = CString::new(s).expect("symbol name");
            let p = libc::dlsym(handle, c.as_ptr());
            assert!(!p.is_null(), "libespeak-ng lacks {s}");
            p
        };
        let initialize = std::mem::transmute::<*mut c_void, Initialize>(sym("espeak_Initialize"));
        let set_callback =
            std::mem::transmute::<*mut c_void, SetCallback>(sym("espeak_SetSynthCallback"));
        let rate = initialize(
            AUDIO_OUTPUT_SYNCHRONOUS,
            0,
            std::ptr::null(),
            INITIALIZE_PHONEME_EVENTS,
        );
        assert!(rate > 0, "espeak_Initialize failed");
        set_callback(collect);
        Library {
            set_voice_by_properties: std::mem::transmute::<*mut c_void, SetVoiceByProperties>(sym(
                "espeak_ng_SetVoiceByProperties",
            )),
            set_voice: std::mem::transmute::<*mut c_void, SetVoice>(sym(
                "espeak_ng_SetVoiceByName",
            )),
            set_parameter: std::mem::transmute::<*mut c_void, SetParameter>(sym(
                "espeak_SetParameter",
            )),
            synth: std::mem::transmute::<*mut c_void, Synth>(sym("espeak_Synth")),
            synchronize: std::mem::transmute::<*mut c_void, Synchronize>(sym("espeak_Synchronize")),
        }
    }
}

/// `word` spoken by `voice` through the library: its samples (22.05 kHz,
/// as the command line writes) and each phone's mnemonic and start in
/// seconds, pauses left out; a phone ends where the next starts, the last
/// where the sound does.
pub fn phones(word: &str, voice: &Voice) -> (Vec<i16>, Vec<Phone>) {
    let mut library = LIBRARY.lock().unwrap_or_else(|e| e.into_inner());
    let lib = library.get_or_insert_with(open);
    *HEARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(Heard {
        samples: Vec::new(),
        phones: Vec::new(),
    });
    let name = CString::new(voice.name).expect("voice name");
    let text = CString::new(word).expect("word");
    // As the command line does: by name ("en+f3"), else by language
    // ("en-gb", "en-us+m3": the variant after the '+').
    if (lib.set_voice)(name.as_ptr()) != 0 {
        let language =
            CString::new(voice.name.split('+').next().unwrap_or_default()).expect("voice language");
        let select = VoiceSelect {
            name: name.as_ptr(),
            languages: language.as_ptr(),
            identifier: std::ptr::null(),
            gender: 0,
            age: 0,
            variant: 0,
            xx1: 0,
            score: 0,
            spare: std::ptr::null_mut(),
        };
        let status = (lib.set_voice_by_properties)(&select);
        assert_eq!(status, 0, "espeak-ng has no voice {}", voice.name);
    }
    (lib.set_parameter)(RATE, voice.speed as c_int, 0);
    (lib.set_parameter)(PITCH, voice.pitch as c_int, 0);
    let bytes = text.as_bytes_with_nul();
    let status = (lib.synth)(
        bytes.as_ptr().cast(),
        bytes.len(),
        0,
        POS_CHARACTER,
        0,
        CHARS_UTF8 | END_PAUSE,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    assert_eq!(status, 0, "espeak_Synth failed for {word:?}");
    (lib.synchronize)();
    let heard = HEARD
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .expect("synthesis results");
    let end = heard.samples.len() as f64 / 22_050.0;
    let starts: Vec<(f64, String)> = heard
        .phones
        .into_iter()
        .map(|(ms, name)| (ms as f64 / 1000.0, name))
        .collect();
    let phones = starts
        .iter()
        .enumerate()
        .filter(|(_, (_, name))| !name.starts_with('_') && !name.is_empty())
        .map(|(k, (start, name))| Phone {
            label: name.clone(),
            start: *start,
            end: starts.get(k + 1).map_or(end, |n| n.0).min(end),
        })
        .collect();
    (heard.samples, phones)
}
