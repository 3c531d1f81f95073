/**
 * The mixed-script test of a new account's local part: Unicode's "Highly Restrictive" level (UTS #39
 * §5.2). `аlice@x` (Cyrillic а, U+0430) reads as `alice@x` but was a second account; so were Greek
 * `ο`, Armenian `օ` and the like inside Latin names. Text in one script only passes (`алиса@x`,
 * `νικος@x`), and so do the mixes the Chinese, Japanese and Korean writing systems need.
 *
 * Characters of no script of their own (Script_Extensions Common or Inherited: digits, `.`, `_`,
 * `-`, `+`, most punctuation and combining marks shared by all) are ignored. Every other character
 * counts with its Script_Extensions (`\p{scx=…}`), so a mark or sign shared by a few scripts (the
 * Devanagari danda, the Japanese prolonged sound mark) fits each of them.
 */

/**
 * Every script Node's Unicode (ICU 78, Unicode 17) knows, by its long name; `Unknown` (unassigned
 * and private-use code points) counts as one more. test/auth/mixed-script.test.ts walks every code
 * point and fails when a newer Unicode brings a script missing here: its letters would be refused
 * until it is added.
 */
const SCRIPTS = [
  'Adlam', 'Ahom', 'Anatolian_Hieroglyphs', 'Arabic', 'Armenian', 'Avestan', 'Balinese', 'Bamum', 'Bassa_Vah',
  'Batak', 'Bengali', 'Beria_Erfe', 'Bhaiksuki', 'Bopomofo', 'Brahmi', 'Braille', 'Buginese', 'Buhid',
  'Canadian_Aboriginal', 'Carian', 'Caucasian_Albanian', 'Chakma', 'Cham', 'Cherokee', 'Chorasmian', 'Coptic',
  'Cuneiform', 'Cypriot', 'Cypro_Minoan', 'Cyrillic', 'Deseret', 'Devanagari', 'Dives_Akuru', 'Dogra',
  'Duployan', 'Egyptian_Hieroglyphs', 'Elbasan', 'Elymaic', 'Ethiopic', 'Garay', 'Georgian', 'Glagolitic',
  'Gothic', 'Grantha', 'Greek', 'Gujarati', 'Gunjala_Gondi', 'Gurmukhi', 'Gurung_Khema', 'Han', 'Hangul',
  'Hanifi_Rohingya', 'Hanunoo', 'Hatran', 'Hebrew', 'Hiragana', 'Imperial_Aramaic', 'Inscriptional_Pahlavi',
  'Inscriptional_Parthian', 'Javanese', 'Kaithi', 'Kannada', 'Katakana', 'Kawi', 'Kayah_Li', 'Kharoshthi',
  'Khitan_Small_Script', 'Khmer', 'Khojki', 'Khudawadi', 'Kirat_Rai', 'Lao', 'Latin', 'Lepcha', 'Limbu',
  'Linear_A', 'Linear_B', 'Lisu', 'Lycian', 'Lydian', 'Mahajani', 'Makasar', 'Malayalam', 'Mandaic',
  'Manichaean', 'Marchen', 'Masaram_Gondi', 'Medefaidrin', 'Meetei_Mayek', 'Mende_Kikakui', 'Meroitic_Cursive',
  'Meroitic_Hieroglyphs', 'Miao', 'Modi', 'Mongolian', 'Mro', 'Multani', 'Myanmar', 'Nabataean', 'Nag_Mundari',
  'Nandinagari', 'New_Tai_Lue', 'Newa', 'Nko', 'Nushu', 'Nyiakeng_Puachue_Hmong', 'Ogham', 'Ol_Chiki',
  'Ol_Onal', 'Old_Hungarian', 'Old_Italic', 'Old_North_Arabian', 'Old_Permic', 'Old_Persian', 'Old_Sogdian',
  'Old_South_Arabian', 'Old_Turkic', 'Old_Uyghur', 'Oriya', 'Osage', 'Osmanya', 'Pahawh_Hmong', 'Palmyrene',
  'Pau_Cin_Hau', 'Phags_Pa', 'Phoenician', 'Psalter_Pahlavi', 'Rejang', 'Runic', 'Samaritan', 'Saurashtra',
  'Sharada', 'Shavian', 'Siddham', 'Sidetic', 'SignWriting', 'Sinhala', 'Sogdian', 'Sora_Sompeng', 'Soyombo',
  'Sundanese', 'Sunuwar', 'Syloti_Nagri', 'Syriac', 'Tagalog', 'Tagbanwa', 'Tai_Le', 'Tai_Tham', 'Tai_Viet',
  'Tai_Yo', 'Takri', 'Tamil', 'Tangsa', 'Tangut', 'Telugu', 'Thaana', 'Thai', 'Tibetan', 'Tifinagh', 'Tirhuta',
  'Todhri', 'Tolong_Siki', 'Toto', 'Tulu_Tigalari', 'Ugaritic', 'Vai', 'Vithkuqi', 'Wancho', 'Warang_Citi',
  'Yezidi', 'Yi', 'Zanabazar_Square',
  'Unknown',
] as const;

/** Script_Extensions Common or Inherited: no script of their own (digits, `.`, `-`, `_`, `+`, shared marks). */
const NEUTRAL = String.raw`\p{scx=Common}\p{scx=Inherited}`;

/** The mixes UTS #39 allows at the Highly Restrictive level, besides one script alone. */
const ALLOWED_MIXES: readonly (readonly string[])[] = [
  ['Latin', 'Han', 'Hiragana', 'Katakana'],
  ['Latin', 'Han', 'Bopomofo'],
  ['Latin', 'Han', 'Hangul'],
];

/**
 * Whether this runtime's regular expressions know the script `name`. The list names scripts up to
 * Unicode 17 (Node 20.20's ICU), and an older Node (20.12 has Unicode 15.1) refuses
 * `\p{scx=Garay}` as a syntax error, which made the whole library fail at import. There, those
 * letters are script Unknown, which the list's own `Unknown` covers.
 */
function knownScript(name: string): boolean {
  try {
    new RegExp(String.raw`\p{scx=${name}}`, 'u');
    return true;
  } catch {
    return false;
  }
}

/**
 * For each script this runtime knows, and each allowed mix: a pattern of text made only of it and of
 * neutral characters. Exported for its test (a name the runtime does not know is left out, not fatal).
 */
export function withinPatterns(scripts: readonly string[], mixes: readonly (readonly string[])[]): RegExp[] {
  return [...scripts.filter(knownScript).map((name) => [name]), ...mixes].map(
    (names) => new RegExp(`^[${names.map((name) => String.raw`\p{scx=${name}}`).join('')}${NEUTRAL}]*$`, 'u'),
  );
}

/**
 * Compiled on first use, once: ~170 Unicode-property patterns take ~50 ms to compile, which every
 * import of the library (the CLI, a test, an app without the auth module) paid at start-up.
 */
let within: readonly RegExp[] | undefined;

/** The script names of `SCRIPTS`, for the coverage test. */
export const KNOWN_SCRIPTS: readonly string[] = SCRIPTS;

/**
 * Whether `text` mixes scripts beyond what UTS #39's Highly Restrictive level allows.
 * @example isMixedScript('\u0430lice') // true (Cyrillic а, Latin lice)
 * @example isMixedScript('алиса.1') // false
 * @example isMixedScript('tanaka太郎ひらがな') // false (Latin + Han + Hiragana)
 */
export function isMixedScript(text: string): boolean {
  within ??= withinPatterns(SCRIPTS, ALLOWED_MIXES);
  return !within.some((pattern) => pattern.test(text));
}
