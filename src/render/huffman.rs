//! Huffman code lengths for the tables of `deflate.rs`: optimal lengths
//! from symbol counts, then limited to a longest code without losing
//! completeness.
//!
//! Every stripe of a PNG builds two tables, so this works in arrays on the
//! stack, not in vectors, and the same counts always give the same lengths,
//! so the same pixels always give the same bytes.

use crate::render::deflate::LITERAL_LENGTH_SYMBOLS;

/// The longest code of any table (RFC 1951), and the most nodes a Huffman
/// tree of the largest alphabet, the literal/length one, has.
const MAX_CODE_LENGTH: usize = 15;
const MAX_NODES: usize = 2 * LITERAL_LENGTH_SYMBOLS;

/// Huffman code lengths for symbols with these counts, none longer than
/// `limit`; a symbol that never occurs gets no code (length 0). When the
/// optimal code is too deep, codes are moved between lengths until the code
/// is complete again within the limit, and the lengths handed out anew, the
/// shortest to the most frequent symbols: the rare symbols pay.
pub(crate) fn code_lengths<const N: usize>(counts: &[u32; N], limit: u32) -> [u8; N] {
    let (mut lengths, by_weight) = huffman_lengths(counts);
    let by_weight = &by_weight.symbols[..by_weight.len];
    let limit_length = limit as u8;
    if lengths.iter().all(|&length| length <= limit_length) {
        return lengths;
    }
    let mut codes_of_length = [0u64; MAX_CODE_LENGTH + 1];
    for &symbol in by_weight {
        codes_of_length[usize::from(lengths[usize::from(symbol)].min(limit_length))] += 1;
    }
    // The Kraft sum in units of 2^-limit: a complete code sums to 2^limit.
    let complete = 1u64 << limit;
    let mut kraft: u64 = (1..=limit as usize)
        .map(|length| codes_of_length[length] << (limit as usize - length))
        .sum();
    let limit = limit as usize;
    while kraft > complete {
        // One code at the limit goes, and a shorter code becomes two one
        // bit longer: the same number of codes, and the sum one unit less.
        // While the longest shorter code is one bit short of the limit,
        // each such step moves one code down to the limit, so those steps
        // are taken together.
        match (1..limit).rev().find(|&length| codes_of_length[length] > 0) {
            Some(length) if length == limit - 1 => {
                let steps = codes_of_length[length].min(kraft - complete);
                codes_of_length[length] -= steps;
                codes_of_length[limit] += steps;
                kraft -= steps;
            }
            Some(length) => {
                codes_of_length[limit] -= 1;
                codes_of_length[length] -= 1;
                codes_of_length[length + 1] += 2;
                kraft -= 1;
            }
            None => {
                codes_of_length[limit] -= kraft - complete;
                kraft = complete;
            }
        }
    }
    let mut heaviest_first = by_weight.iter().rev();
    for (length, &count) in codes_of_length.iter().enumerate().take(limit + 1).skip(1) {
        for &symbol in heaviest_first.by_ref().take(count as usize) {
            lengths[usize::from(symbol)] = length as u8;
        }
    }
    lengths
}

/// The symbols that occur, from the lightest to the heaviest.
struct ByWeight<const N: usize> {
    symbols: [u16; N],
    len: usize,
}

/// Optimal (unlimited) Huffman code lengths, and the symbols that occur from
/// the lightest to the heaviest. Ties are broken by symbol, so the same
/// counts always give the same code.
fn huffman_lengths<const N: usize>(counts: &[u32; N]) -> ([u8; N], ByWeight<N>) {
    let mut lengths = [0u8; N];
    // Each leaf as its count above its symbol: sorting the numbers sorts
    // by count, then by symbol. The leaves of count 1 (most of a table fitted
    // to a stripe of text on a plain ground, where every symbol not seen
    // counts 1) come first and already in order; only the others are sorted.
    let mut leaves = [0u64; N];
    let mut leaf_count = 0;
    for (symbol, &count) in counts.iter().enumerate() {
        if count == 1 {
            leaves[leaf_count] = (1 << 16) | symbol as u64;
            leaf_count += 1;
        }
    }
    let rarest = leaf_count;
    for (symbol, &count) in counts.iter().enumerate() {
        if count > 1 {
            leaves[leaf_count] = (u64::from(count) << 16) | symbol as u64;
            leaf_count += 1;
        }
    }
    let leaves = &mut leaves[..leaf_count];
    leaves[rarest..].sort_unstable();
    let mut by_weight = ByWeight {
        symbols: [0; N],
        len: leaf_count,
    };
    for (slot, &leaf) in by_weight.symbols.iter_mut().zip(leaves.iter()) {
        *slot = leaf as u16;
    }
    if leaf_count < 2 {
        for &symbol in &by_weight.symbols[..leaf_count] {
            lengths[usize::from(symbol)] = 1;
        }
        return (lengths, by_weight);
    }
    // Nodes 0..leaf_count are the sorted leaves; each new internal node joins
    // the two lightest of the leaves and internal nodes not yet joined. The
    // internal nodes come out in order of weight, so two queues suffice.
    let node_count = 2 * leaf_count - 1;
    let mut node_weight = [0u64; MAX_NODES];
    let mut parent = [0u16; MAX_NODES];
    for (weight, &leaf) in node_weight.iter_mut().zip(leaves.iter()) {
        *weight = leaf >> 16;
    }
    let (mut next_leaf, mut next_internal) = (0, leaf_count);
    for node in leaf_count..node_count {
        let mut lightest = || {
            let take_leaf = next_leaf < leaf_count
                && (next_internal >= node || node_weight[next_leaf] <= node_weight[next_internal]);
            if take_leaf {
                next_leaf += 1;
                next_leaf - 1
            } else {
                next_internal += 1;
                next_internal - 1
            }
        };
        let (first, second) = (lightest(), lightest());
        node_weight[node] = node_weight[first] + node_weight[second];
        parent[first] = node as u16;
        parent[second] = node as u16;
    }
    // A parent always comes after its children, so depths fill in from the
    // root down.
    let mut depth = [0u8; MAX_NODES];
    for node in (0..node_count - 1).rev() {
        depth[node] = depth[usize::from(parent[node])].saturating_add(1);
    }
    for (leaf, &symbol) in by_weight.symbols[..leaf_count].iter().enumerate() {
        lengths[usize::from(symbol)] = depth[leaf];
    }
    (lengths, by_weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_lengths_are_limited_and_complete() {
        // Fibonacci counts make the deepest possible unlimited code.
        let mut counts = vec![1u32, 1];
        while counts.len() < 40 {
            let next = counts[counts.len() - 1] + counts[counts.len() - 2];
            counts.push(next);
        }
        let counts: [u32; 40] = counts.try_into().expect("40 counts");
        for limit in [7, 10, 15] {
            let lengths = code_lengths(&counts, limit);
            assert!(
                lengths
                    .iter()
                    .all(|&length| (1..=limit).contains(&u32::from(length)))
            );
            let kraft: f64 = lengths
                .iter()
                .map(|&length| 0.5f64.powi(i32::from(length)))
                .sum();
            assert!((kraft - 1.0).abs() < 1e-12, "a complete code, not {kraft}");
            // The most frequent symbol keeps the shortest code.
            assert_eq!(lengths[39], *lengths.iter().min().expect("40 symbols"));
        }
    }
}
