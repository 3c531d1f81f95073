/** Drops a value or an error: for the promises whose outcome the store does not need (`.then(ignore, ignore)`). */
export function ignore(): void {}
