//! Union-find over document indices whose representative is always the smallest index.
//!
//! Making the smallest index the root (instead of union by rank) means a cluster's
//! representative is its first document in input order whatever order the edges arrive in, so
//! output does not depend on thread count or scheduling.

/// Disjoint sets over `0..n`, 4 bytes per element.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    /// `n` singletons.
    pub fn new(n: usize) -> Self {
        assert!(n <= u32::MAX as usize, "too many elements for u32 indices");
        UnionFind {
            parent: (0..n as u32).collect(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// The smallest index of `x`'s set (with path halving).
    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    /// Joins the sets of `a` and `b`; returns false when they already were one.
    pub fn union(&mut self, a: u32, b: u32) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[child as usize] = root;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_smallest_whatever_the_order() {
        let mut a = UnionFind::new(6);
        a.union(5, 4);
        a.union(4, 2);
        a.union(3, 5);
        for x in [2, 3, 4, 5] {
            assert_eq!(a.find(x), 2);
        }
        assert_eq!(a.find(0), 0);
        assert!(!a.union(2, 3));
    }
}
