import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type BinaryLike } from 'node:crypto';

/** A user as the app stores it: never the password, only its scrypt hash. */
export interface User {
  id: string;
  username: string;
  phone: string;
  salt: Buffer;
  hash: Buffer;
}

const KEY_LENGTH = 32;
const COST = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function scrypt(password: BinaryLike, salt: BinaryLike): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, KEY_LENGTH, COST, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** The password of every BENCH_USERS user. */
export const BENCH_PASSWORD = 'bench-password';

const DEMO = [
  { id: '1', username: 'alice', password: 'alice-password', phone: '+4512345678' },
  { id: '2', username: 'bob', password: 'bob-password', phone: '+4587654321' },
];

/** The demo users, with their passwords hashed at start-up. */
export class UserDirectory {
  private readonly byName = new Map<string, User>();
  private readonly byId = new Map<string, User>();
  // Checked when the name is unknown, so an unknown user costs the same scrypt as a wrong password.
  private readonly decoy = { salt: randomBytes(16), hash: randomBytes(KEY_LENGTH) };

  /**
   * The demo users; with `benchUsers` (BENCH_USERS, for `npm run bench` only) that many more:
   * `user<i>` / `bench-password` / `+452xxxxxxx` (i padded to seven digits, a possible DK number: the package's default check).
   * They share one salt and hash, because hashing thousands of passwords at start would take
   * minutes; a password check still costs them the full scrypt. Real users each get their own salt.
   */
  static async demo(benchUsers = 0): Promise<UserDirectory> {
    const directory = new UserDirectory();
    for (const { password, ...rest } of DEMO) {
      const salt = randomBytes(16);
      directory.add({ ...rest, salt, hash: await scrypt(password, salt) });
    }
    if (benchUsers > 0) {
      const salt = randomBytes(16);
      const hash = await scrypt(BENCH_PASSWORD, salt);
      for (let i = 1; i <= benchUsers; i++) {
        directory.add({ id: `u${i}`, username: `user${i}`, phone: `+452${String(i).padStart(7, '0')}`, salt, hash });
      }
    }
    return directory;
  }

  private add(user: User): void {
    this.byName.set(user.username, user);
    this.byId.set(user.id, user);
  }

  /** The user with this name, without a password check (the benchmark's start step without scrypt). */
  findByName(username: string): User | undefined {
    return this.byName.get(username);
  }

  findById(id: string): User | undefined {
    return this.byId.get(id);
  }

  /** The user when name and password match, else undefined; the same work either way. */
  async verifyPassword(username: string, password: string): Promise<User | undefined> {
    const user = this.byName.get(username);
    const { salt, hash } = user ?? this.decoy;
    const candidate = await scrypt(password, salt);
    const match = timingSafeEqual(candidate, hash);
    return user !== undefined && match ? user : undefined;
  }
}
