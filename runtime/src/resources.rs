//! Module resources: one value per type, owned by the module.

use std::any::{Any, TypeId};
use std::cell::{Ref, RefCell, RefMut};
use std::collections::HashMap;

/// A module's resources, keyed by type.
#[derive(Default)]
pub(crate) struct Resources {
    values: HashMap<TypeId, RefCell<Box<dyn Any>>>,
}

impl Resources {
    pub(crate) fn insert<T: 'static>(&mut self, value: T) {
        self.values
            .insert(TypeId::of::<T>(), RefCell::new(Box::new(value)));
    }

    pub(crate) fn get<T: 'static>(&self) -> Option<Ref<'_, T>> {
        let cell = self.values.get(&TypeId::of::<T>())?;
        let borrowed = cell.try_borrow().ok()?;
        Ref::filter_map(borrowed, |value| value.downcast_ref::<T>()).ok()
    }

    pub(crate) fn get_mut<T: 'static>(&self) -> Option<RefMut<'_, T>> {
        let cell = self.values.get(&TypeId::of::<T>())?;
        let borrowed = cell.try_borrow_mut().ok()?;
        RefMut::filter_map(borrowed, |value| value.downcast_mut::<T>()).ok()
    }

    pub(crate) fn take<T: 'static>(&mut self) -> Option<T> {
        let value = self.values.remove(&TypeId::of::<T>())?.into_inner();
        value.downcast::<T>().ok().map(|value| *value)
    }
}
