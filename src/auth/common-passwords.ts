/**
 * Passwords of 8 characters or more that head the public lists of the most used (and most
 * breached) passwords: SecLists' `10-million-password-list-top-1000` (Daniel Miessler), the NCSC's
 * `PwnedPasswordsTop100k` (from Have I Been Pwned), and the yearly top lists of SplashData and
 * NordPass (Wikipedia, "List of the most common passwords"). Picked by hand, only those that pass
 * the length rule (shorter ones are refused anyway), written case-folded: a chosen password is
 * compared after NFKC and case folding, so `PASSWORD`, `Password` and full-width `ｐａｓｓｗｏｒｄ`
 * match `password`. A short list by design (NIST SP 800-63B: a blocklist of the likeliest guesses);
 * the `isPasswordRejected` option of the auth service can ask a full breach corpus as well.
 */
export const COMMON_PASSWORDS: ReadonlySet<string> = new Set([
  'password', '12345678', '123456789', '1234567890', '12345678910', '123123123', '11111111', '111111111',
  '1111111111', '00000000', '000000000', '0000000000', '88888888', '99999999', '66666666', '55555555',
  '22222222', '12341234', '11223344', '87654321', '98765432', '147258369', '123321123', '1q2w3e4r',
  '1q2w3e4r5t', '1q2w3e4r5t6y', 'q1w2e3r4', 'q1w2e3r4t5', '1qaz2wsx', '1qaz2wsx3edc', 'zaq12wsx', 'zaq1zaq1',
  'qwertyuiop', 'qwertyui', 'qwerty123', 'qwerty12', 'qwerty1234', 'qwertyuiop123', 'asdfghjkl', 'asdfghjk',
  'asdf1234', 'zxcvbnm1', 'zxcvbnm123', 'qazwsxedc', 'qweasdzxc', '1234qwer', '123qweasd', 'qweqweqwe',
  'abcd1234', 'abc12345', 'abcdefgh', 'abcdefg1', 'a1234567', 'aa123456', 'aa12345678', 'password1',
  'password12', 'password123', 'password1234', 'passw0rd', 'p@ssw0rd', 'p@ssword', 'pa$$word', 'password!',
  'password1!', 'iloveyou', 'iloveyou1', 'iloveyou2', 'sunshine', 'sunshine1', 'princess', 'princess1',
  'football', 'football1', 'baseball', 'basketball', 'superman', 'batman123', 'starwars', 'whatever',
  'trustno1', 'sunflower', 'butterfly', 'chocolate', 'jennifer', 'michelle', 'jonathan', 'jordan23',
  'alexander', 'charlie1', 'computer', 'internet', 'letmein1', 'letmein123', 'welcome1', 'welcome123',
  'welcome2', 'midnight', 'mustang1', 'marlboro', 'maverick', 'mercedes', 'liverpool', 'chelsea1', 'arsenal1',
  'manchester', 'barcelona', 'elephant', 'firebird', 'freedom1', 'gateway1', 'ginger123', 'hello123',
  'hellokitty', 'hockey12', 'hunter12', 'hunter123', 'killer12', 'lovely12', 'loveme12', 'monkey12',
  'monkey123', 'nicole12', 'pokemon1', 'qwerty11', 'q1w2e3r4t5y6', 'rainbow1', 'samantha', 'scorpion',
  'shadow12', 'shadow123', 'soccer12', 'spiderman', 'summer12', 'thomas12', 'tigger12', 'tinkerbell',
  'vanessa1', 'victoria', 'zxcvbnma', 'master12', 'master123', 'michael1', 'naruto123', 'dragon12',
  'dragon123', 'blink182', 'babygirl', 'babygirl1', 'angel123', 'asdfasdf', 'asdasdasd', 'changeme',
  'changeme123', 'administrator', 'admin123', 'admin1234', 'adminadmin', 'rootroot', 'root1234', 'test1234',
  'testtest', 'passpass', 'secret12', 'secret123', 'letmein!', '11111111a', '1234abcd', '12qwaszx',
  '123456789a', '123456789q', '123456aa', '123456qwerty', '789456123', '741852963', '159753159', '159357456',
  '147852369', '963852741', 'qwer1234', '1234567a', '1234567q', 'a12345678', 'q12345678', '987654321',
  '0987654321', '999999999', '666666666', '777777777', '123654789', '12344321', '123454321', '1234554321',
  '1111122222', 'aaaaaaaa', 'qqqqqqqq', 'asdasd123', 'iloveu123', '1password', 'mypassword', 'yourpassword',
  'football123', 'baseball1', 'superman1', 'princess123', 'flower123', 'peanut123', 'cookie123', 'jasmine1',
  'jessica1', 'ashley123', 'daniel123', 'george123', 'andrew123', 'matthew1', 'michael123',
]);
